"""The built-in offline demo corpus: sampled GM instruments and espeak-ng words, plus held-out evaluation tasks."""
