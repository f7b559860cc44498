"""The built-in offline demo corpus (GM instruments and drum kits, procedural sound events, espeak-ng words and
multilingual sentences, noisy speech and polyphonic scenes), plus held-out evaluation tasks."""
