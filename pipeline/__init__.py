"""ssondo-pipeline: distil audio foundation models into tiny students from cached embeddings."""

__version__ = "0.1.0"
