"""Audio I/O and signal processing: decoding, resampling, windows, log-mel front-end, augmentation."""
