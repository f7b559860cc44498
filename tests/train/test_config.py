"""Train config rules that need another section: the spectrum summary's band count is the front-end's."""
import pytest

from pipeline.config import ConfigError
from pipeline.train.config import TrainConfig, check_frontend_fit


def test_summary_bands_must_be_the_frontend_band_count():
    check_frontend_fit(TrainConfig(student_options={"width": 0.35}), 64)  # off: any front-end
    check_frontend_fit(TrainConfig(student_options={"width": 0.35, "summary_bands": 128}), 128)
    with pytest.raises(ConfigError, match=r"train.student_options.summary_bands.*frontend.n_mels \(64\), got 128"):
        check_frontend_fit(TrainConfig(student_options={"width": 0.35, "summary_bands": 128}), 64)
