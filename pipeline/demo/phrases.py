"""Short everyday phrases in 20 espeak-ng languages (written for this demo), and the words they contain."""
from __future__ import annotations

import functools
import numpy as np

# espeak-ng language -> phrases; task languages draw pseudo-sentences from these words, so keep ~30 words each
PHRASES = {
    "en": ("The train leaves in ten minutes.", "Could you open the window, please?",
           "My sister bought a new bicycle yesterday.", "It is going to rain this afternoon.",
           "We walked along the river after dinner.", "Where did you put the kitchen keys?"),
    "de": ("Der Zug fährt in zehn Minuten ab.", "Kannst du bitte das Fenster öffnen?",
           "Meine Schwester hat gestern ein neues Fahrrad gekauft.", "Heute Nachmittag wird es regnen.",
           "Nach dem Essen sind wir am Fluss spazieren gegangen.", "Wo hast du die Schlüssel hingelegt?"),
    "fr": ("Le train part dans dix minutes.", "Pourrais-tu ouvrir la fenêtre, s'il te plaît?",
           "Ma sœur a acheté un nouveau vélo hier.", "Il va pleuvoir cet après-midi.",
           "Nous avons marché le long de la rivière après le dîner.", "Où as-tu mis les clés de la cuisine?"),
    "es": ("El tren sale en diez minutos.", "¿Puedes abrir la ventana, por favor?",
           "Mi hermana compró una bicicleta nueva ayer.", "Va a llover esta tarde.",
           "Caminamos junto al río después de cenar.", "¿Dónde pusiste las llaves de la cocina?"),
    "it": ("Il treno parte tra dieci minuti.", "Puoi aprire la finestra, per favore?",
           "Mia sorella ha comprato una bicicletta nuova ieri.", "Oggi pomeriggio pioverà.",
           "Dopo cena abbiamo camminato lungo il fiume.", "Dove hai messo le chiavi della cucina?"),
    "pt": ("O comboio parte daqui a dez minutos.", "Podes abrir a janela, por favor?",
           "A minha irmã comprou uma bicicleta nova ontem.", "Vai chover esta tarde.",
           "Depois do jantar caminhámos junto ao rio.", "Onde puseste as chaves da cozinha?"),
    "nl": ("De trein vertrekt over tien minuten.", "Kun je het raam even openen?",
           "Mijn zus heeft gisteren een nieuwe fiets gekocht.", "Vanmiddag gaat het regenen.",
           "Na het eten wandelden we langs de rivier.", "Waar heb je de sleutels van de keuken gelegd?"),
    "sv": ("Tåget går om tio minuter.", "Kan du öppna fönstret, tack?",
           "Min syster köpte en ny cykel i går.", "Det kommer att regna i eftermiddag.",
           "Vi promenerade längs floden efter middagen.", "Var lade du nycklarna till köket?"),
    "da": ("Toget kører om ti minutter.", "Kan du åbne vinduet, tak?",
           "Min søster købte en ny cykel i går.", "Det begynder at regne i eftermiddag.",
           "Vi gik en tur langs åen efter aftensmaden.", "Hvor lagde du nøglerne til køkkenet?"),
    "fi": ("Juna lähtee kymmenen minuutin kuluttua.", "Voisitko avata ikkunan?",
           "Siskoni osti eilen uuden polkupyörän.", "Iltapäivällä alkaa sataa.",
           "Kävelimme joen rantaa pitkin illallisen jälkeen.", "Mihin laitoit keittiön avaimet?"),
    "hu": ("A vonat tíz perc múlva indul.", "Kinyitnád az ablakot, kérlek?",
           "A húgom tegnap új biciklit vett.", "Délután esni fog az eső.",
           "Vacsora után sétáltunk a folyó mentén.", "Hová tetted a konyha kulcsait?"),
    "pl": ("Pociąg odjeżdża za dziesięć minut.", "Czy możesz otworzyć okno?",
           "Moja siostra kupiła wczoraj nowy rower.", "Po południu będzie padać deszcz.",
           "Po kolacji spacerowaliśmy wzdłuż rzeki.", "Gdzie położyłeś klucze od kuchni?"),
    "cs": ("Vlak odjíždí za deset minut.", "Můžeš prosím otevřít okno?",
           "Moje sestra včera koupila nové kolo.", "Odpoledne bude pršet.",
           "Po večeři jsme se procházeli podél řeky.", "Kam jsi dal klíče od kuchyně?"),
    "tr": ("Tren on dakika sonra kalkıyor.", "Pencereyi açabilir misin lütfen?",
           "Kız kardeşim dün yeni bir bisiklet aldı.", "Bu öğleden sonra yağmur yağacak.",
           "Akşam yemeğinden sonra nehir boyunca yürüdük.", "Mutfağın anahtarlarını nereye koydun?"),
    "ru": ("Поезд отправляется через десять минут.", "Ты не мог бы открыть окно?",
           "Моя сестра вчера купила новый велосипед.", "Сегодня днём пойдёт дождь.",
           "После ужина мы гуляли вдоль реки.", "Куда ты положил ключи от кухни?"),
    "el": ("Το τρένο φεύγει σε δέκα λεπτά.", "Μπορείς να ανοίξεις το παράθυρο, σε παρακαλώ;",
           "Η αδερφή μου αγόρασε καινούργιο ποδήλατο χθες.", "Θα βρέξει σήμερα το απόγευμα.",
           "Μετά το δείπνο περπατήσαμε δίπλα στο ποτάμι.", "Πού έβαλες τα κλειδιά της κουζίνας;"),
    "ro": ("Trenul pleacă în zece minute.", "Poți să deschizi fereastra, te rog?",
           "Sora mea a cumpărat ieri o bicicletă nouă.", "Va ploua în după-amiaza asta.",
           "După cină ne-am plimbat de-a lungul râului.", "Unde ai pus cheile de la bucătărie?"),
    "id": ("Kereta berangkat sepuluh menit lagi.", "Bisakah kamu membuka jendela itu?",
           "Kakak saya membeli sepeda baru kemarin.", "Sore ini akan turun hujan.",
           "Kami berjalan di tepi sungai setelah makan malam.", "Di mana kamu menaruh kunci dapur?"),
    "sw": ("Treni inaondoka baada ya dakika kumi.", "Tafadhali unaweza kufungua dirisha?",
           "Dada yangu alinunua baiskeli mpya jana.", "Mvua itanyesha mchana huu.",
           "Tulitembea kando ya mto baada ya chakula cha jioni.", "Uliweka wapi funguo za jikoni?"),
    "hi": ("ट्रेन दस मिनट में छूटेगी।", "क्या आप खिड़की खोल सकते हैं?",
           "मेरी बहन ने कल नई साइकिल खरीदी।", "आज दोपहर बारिश होगी।",
           "खाने के बाद हम नदी के किनारे टहले।", "तुमने रसोई की चाबियाँ कहाँ रखीं?"),
}
LANGUAGES = tuple(PHRASES)
PUNCTUATION = ".,;:!?¿¡।\"«»"  # sentence marks of the scripts above (";" is the Greek question mark)


@functools.lru_cache(maxsize=None)
def words(language: str) -> tuple[str, ...]:
    """The distinct lower-case words of a language's phrases, in order of first use."""
    # split on spaces, not \w: Devanagari vowel signs are not word characters to `re`
    found = (w.strip(PUNCTUATION) for w in " ".join(PHRASES[language]).lower().split())
    return tuple(dict.fromkeys(w for w in found if w))


def pseudo_sentence(rng: np.random.Generator, language: str, count: tuple[int, int] = (3, 7)) -> str:
    """A new word sequence of `language` (count[0] to count[1] - 1 words): the sound of the language, unseen text."""
    vocabulary = words(language)
    chosen = rng.choice(len(vocabulary), size=int(rng.integers(*count)), replace=False)
    return " ".join(vocabulary[i] for i in chosen) + "."
