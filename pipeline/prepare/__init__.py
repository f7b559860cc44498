"""The `prepare` stage: a folder or manifest of audio files -> one decoded HDF5 corpus plus a rejection report.

    config     PrepareConfig
    inputs     folder scans (links kept inside their root) and manifests / AudioSet CSVs
    decoding   decode (and encode) files in worker processes
    parts      resumable progress: closed, checksummed part files listed in progress.json
    build      prepare_corpus: inputs -> parts -> the published corpus
"""
from pipeline.prepare.build import PrepareResult, prepare_corpus, summarize_rejections
from pipeline.prepare.config import PARTS_FOLDER, PrepareConfig
from pipeline.prepare.decoding import decode_all
from pipeline.prepare.inputs import AUDIO_EXTENSIONS, load_inputs, outside_root, read_input_manifest, scan_folder

__all__ = ["AUDIO_EXTENSIONS", "PARTS_FOLDER", "PrepareConfig", "PrepareResult", "decode_all", "load_inputs",
           "outside_root", "prepare_corpus", "read_input_manifest", "scan_folder", "summarize_rejections"]
