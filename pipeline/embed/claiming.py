"""Which writer does what on a shared store: shards taken one at a time by claim, waiting (and saying for whom) when
every unfinished shard is held by a live writer, and the store finalised once by whoever claims it."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator

from pipeline.store import EmbeddingStore
from pipeline.store.claims import Claims


def say(message: str) -> None:
    """A status line for the person running the stage (stderr, beside the progress bar)."""
    print(message, file=sys.stderr, flush=True)


def shard_claim(shard: int) -> str:
    return f"shard-{shard:06d}"


def claimed_shards(store: EmbeddingStore, claims: Claims, preferred: Callable[[int], bool] = lambda s: True,
                   tell: Callable[[str], None] = say) -> Iterator[int]:
    """Yield unfinished shards of `store` one at a time, each claimed by `claims` (released by the caller when done).

    `preferred` shards are tried first (a rank's own share under torchrun). When every unfinished shard is held by a
    live writer, wait and tell who holds them; a stale claim is taken over. Ends when every shard is finished.
    """
    told = None
    while True:
        done = store.done_shards()
        left = [s for s in range(store.layout.n_shards) if s not in done]
        if not left:
            return
        for shard in sorted(left, key=lambda s: (not preferred(s), s)):
            if shard_claim(shard) in claims.held or not claims.take(shard_claim(shard)):
                continue
            if shard in store.done_shards():  # finished by its holder between our listing and our claim
                claims.release(shard_claim(shard))
                continue
            yield shard
            break
        else:
            owners = claims.holders([shard_claim(s) for s in left])
            holders = {s: owners[shard_claim(s)] for s in left if shard_claim(s) in owners}
            line = waiting_line(store, holders, len(left))
            if line != told:
                tell(line)
                told = line
            time.sleep(claims.poll)


def waiting_line(store: EmbeddingStore, holders: dict[int, str], left: int) -> str:
    """What a waiting writer tells: how many shards are left and who holds them (`holders`: shard -> owner)."""
    by_owner: dict[str, list[str]] = {}
    for shard, owner in sorted(holders.items()):
        by_owner.setdefault(owner, []).append(str(shard))
    held = "; ".join(f"{owner} holds shard(s) {', '.join(names)}" for owner, names in by_owner.items())
    return (f"store {store.url}: waiting for {left} unfinished shard(s) held by other writers ({held or 'releasing'}); "
            f"a claim not renewed within its expiry is taken over")


def finalise_once(store: EmbeddingStore, claims: Claims) -> bool:
    """Finalise the store unless another writer does: returns True if this writer did, False if another did."""
    while not EmbeddingStore.open(store.url).complete:
        if claims.take("finalise"):
            try:
                if EmbeddingStore.open(store.url).complete:  # finalised between our look and our claim
                    return False
                store.finalise()
                return True
            finally:
                claims.release("finalise")
        time.sleep(claims.poll)
    return False
