"""Feature export against the model run on one utterance at a time: batching, padding,
sharding and the HuBERT dump layout must not change a single frame."""

import numpy as np
import pytest
import soundfile as sf
import torch

from birq_fairseq.export_features import batches, load_encoder, main
from tests.e2e.cli import pretrain

pytestmark = pytest.mark.slow

LAYER = 2


@pytest.fixture(scope="module")
def checkpoint(tiny_corpus, tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("pretrained")
    pretrain("birq_demo", tiny_corpus / "pretrain", save_dir, "optimization.max_update=1",
             "dataset.validate_interval_updates=100")
    return str(save_dir / "checkpoint_last.pt")


def reference_features(checkpoint, manifest, layer):
    """Each utterance alone, no padding mask at all."""
    encoder = load_encoder(checkpoint)
    lines = manifest.read_text().splitlines()
    root, outputs = lines[0], []
    for line in lines[1:]:
        audio, _ = sf.read(f"{root}/{line.split(chr(9))[0]}", dtype="float32")
        with torch.no_grad():
            out = encoder.model.extract_features(torch.from_numpy(audio)[None], layer=layer - 1)
        outputs.append(out["x"][0].numpy())
    return outputs


def test_hubert_dump_equals_unbatched_features(tiny_corpus, checkpoint, tmp_path):
    data = tiny_corpus / "finetune"
    assert main([checkpoint, str(data), "test", str(tmp_path), "--layer", str(LAYER),
                 "--max-tokens", "300000"]) == 0
    dump = np.load(tmp_path / "test_0_1.npy")
    lengths = [int(n) for n in (tmp_path / "test_0_1.len").read_text().split()]
    expected = reference_features(checkpoint, data / "test.tsv", LAYER)
    assert lengths == [len(e) for e in expected]
    assert dump.shape == (sum(lengths), 144) and dump.dtype == np.float32
    offsets = np.cumsum([0, *lengths])
    for i, reference in enumerate(expected):
        np.testing.assert_allclose(dump[offsets[i]:offsets[i + 1]], reference, atol=1e-4)


def test_shards_and_per_utterance_files_cover_the_manifest(tiny_corpus, checkpoint, tmp_path):
    data = tiny_corpus / "finetune"
    main([checkpoint, str(data), "test", str(tmp_path / "whole"), "--layer", "0"])
    for shard in range(3):
        main([checkpoint, str(data), "test", str(tmp_path / "shards"), "--layer", "0",
              "--shard-id", str(shard), "--num-shards", "3"])
    whole = np.load(tmp_path / "whole" / "test_0_1.npy")
    shards = np.concatenate([np.load(tmp_path / "shards" / f"test_{s}_3.npy") for s in range(3)])
    np.testing.assert_allclose(shards, whole, atol=1e-5)

    main([checkpoint, str(data), "test", str(tmp_path / "each"), "--layer", "0",
          "--format", "per-utterance"])
    names = [line.split("\t")[0] for line in (data / "test.tsv").read_text().splitlines()[1:]]
    each = [np.load((tmp_path / "each" / name).with_suffix(".npy")) for name in names]
    np.testing.assert_allclose(np.concatenate(each), whole, atol=1e-5)


def test_a_wrong_sample_rate_names_the_manifest_line(checkpoint, tmp_path):
    sf.write(tmp_path / "ok.wav", np.zeros(16000, dtype=np.float32), 16000)
    sf.write(tmp_path / "slow.wav", np.zeros(8000, dtype=np.float32), 8000)
    (tmp_path / "bad.tsv").write_text(f"{tmp_path}\nok.wav\t16000\nslow.wav\t8000\n")
    with pytest.raises(ValueError, match=r"bad.tsv:3: .*slow.wav is 8000 Hz.*prepare_corpus"):
        main([checkpoint, str(tmp_path), "bad", str(tmp_path / "out"), "--layer", "1"])


def test_a_layer_beyond_the_encoder_is_refused(tiny_corpus, checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([checkpoint, str(tiny_corpus / "finetune"), "test", str(tmp_path), "--layer", "9"])
    assert "this encoder has layers 0..4" in capsys.readouterr().err


def test_batches_respect_the_token_budget():
    lengths = [5, 100, 7, 60, 61, 3, 200]
    groups = batches(lengths, max_tokens=130)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for group in groups:
        assert len(group) == 1 or max(lengths[i] for i in group) * len(group) <= 130
