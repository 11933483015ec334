"""A corpus in another language than English, as a new user would run it: Czech speech from
espeak-ng and raw transcripts (capitals, punctuation, digits) -> ``prepare_corpus --alphabet
keep --lang cs`` -> pretraining -> stock CTC fine-tuning on its ``dict.ltr.txt`` ->
``fairseq-generate``, greedy and with an LM from ``build_arpa``.  Ř, Č, Ů and the other
letters of the language must survive every stage: dictionary, labels, hypotheses, WER."""

import random
import re
import shutil
import subprocess
from pathlib import Path

import editdistance
import pytest

from birq_fairseq.data.text_normalization import normalize_transcript

from .cli import finetune, generate, hypotheses, pretrain, python_module, references

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng"),
]

LANGUAGE = "cs"
# Words that hold most of the letters Czech adds to A-Z.
WORDS = (
    "řeka město dům voda kůň žluťoučký příliš úpěl ďábelské ódy čaj škola ještě malý velký "
    "dobrý den noc slunce měsíc hvězda pes kočka jablko chléb mléko sýr růže řeč žena muž"
).split()
NUMBERS = ("3", "7", "12")  # spelled by num2words: tři, sedm, dvanáct
UTTERANCES = 30
CZECH_LETTERS = set("ÁČĎÉĚÍŇÓŘŠŤÚŮÝŽ")


def sentence(rng: random.Random, index: int) -> str:
    """A raw transcript as people write them: a capital, commas, a full stop, some digits."""
    words = rng.sample(WORDS, rng.randint(3, 5))
    if index % 3 == 0:
        words.insert(rng.randrange(len(words)), rng.choice(NUMBERS))
    text = " ".join(words)
    return text[0].upper() + text[1:].replace(" ", ", ", 1) + "."


@pytest.fixture(scope="module")
def czech(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The prepared corpus folder and the raw transcripts by utterance id."""
    root = tmp_path_factory.mktemp("czech")
    rng = random.Random(1)
    raw = {}
    for index in range(UTTERANCES):
        utt_id = f"spk{index % 3}/utt{index:02d}"
        raw[utt_id] = sentence(rng, index)
        wav = root / "speech" / f"{utt_id}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["espeak-ng", "-v", LANGUAGE, "-s", str(rng.randint(150, 190)),
                        "-w", str(wav), raw[utt_id]], check=True)
    transcripts = root / "text.txt"
    transcripts.write_text("".join(f"{u} {t}\n" for u, t in raw.items()), encoding="utf-8")
    dest = root / "data"
    python_module("birq_fairseq.data.prepare_corpus", "--audio-dir", str(root / "speech"),
                  "--transcripts", str(transcripts), "--dest", str(dest), "--alphabet", "keep",
                  "--lang", LANGUAGE, "--valid-percent", "15", "--test-percent", "15")
    return dest, raw


@pytest.fixture(scope="module")
def finetuned(czech, tmp_path_factory) -> Path:
    """checkpoint_last.pt of a few CTC updates on a briefly pretrained encoder."""
    data, _ = czech
    pretrained = tmp_path_factory.mktemp("czech_pretrained")
    pretrain("birq_demo", data, pretrained, "optimization.max_update=1",
             "dataset.validate_interval_updates=100")
    save_dir = tmp_path_factory.mktemp("czech_finetuned")
    log = finetune(data, pretrained / "checkpoint_last.pt", save_dir,
                   "optimization.max_update=4", "model.freeze_finetune_updates=1",
                   "dataset.validate_interval_updates=4", "checkpoint.save_interval_updates=4")
    assert re.search(r"valid on 'valid' subset .*\| wer ", log), "CTC validation ran"
    return save_dir / "checkpoint_last.pt"


def dictionary_symbols(data: Path) -> list[str]:
    return [line.split()[0] for line in (data / "dict.ltr.txt").read_text("utf-8").splitlines()]


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def assert_scored_with_the_letters(data: Path, results: Path) -> None:
    """Every test utterance decoded; references are the prepared words, Czech letters and
    all; hypotheses use dictionary letters only; the WER is the words' edit distance."""
    words = lines(data / "test.wrd")
    refs, hyps = references(results, "test"), hypotheses(results, "test")
    assert refs == dict(enumerate(words))
    assert CZECH_LETTERS & set("".join(refs.values()))
    assert hyps.keys() == refs.keys()
    letters = set(dictionary_symbols(data)) - {"|"}
    assert all(set(text.replace(" ", "")) <= letters for _, text in hyps.values())
    errors = sum(editdistance.eval(refs[i].split(), hyps[i][1].split()) for i in refs)
    expected = 100 * errors / sum(len(ref.split()) for ref in refs.values())
    reported = re.search(r"WER: ([\d.]+)", lines(results / "generate-test.txt")[-1])
    assert reported and float(reported.group(1)) == pytest.approx(expected, abs=0.01)


def test_labels_and_dictionary_keep_the_letters_of_the_language(czech):
    data, raw = czech
    symbols = dictionary_symbols(data)
    assert CZECH_LETTERS <= set(symbols), "the corpus uses every one of them"
    assert not any(symbol.isdigit() for symbol in symbols)
    manifest_ids = []
    for split in ("train", "valid", "test"):
        manifest_ids += [line.split("\t")[0].removesuffix(".wav")
                         for line in lines(data / f"{split}.tsv")[1:]]
    words = [w for split in ("train", "valid", "test") for w in lines(data / f"{split}.wrd")]
    assert words == [normalize_transcript(raw[u], "keep", LANGUAGE) for u in manifest_ids]
    spelled = [w for u, w in zip(manifest_ids, words) if "3" in raw[u].split()]
    assert spelled and all("TŘI" in w.split() for w in spelled)
    python_module("birq_fairseq.check_data", str(data), "--split", "train", "--split",
                  "valid", "--split", "test", "--labels", "ltr,wrd")


def test_finetuning_and_greedy_decoding_keep_the_letters(czech, finetuned, tmp_path):
    data, _ = czech
    generate(data, finetuned, "test", tmp_path)
    assert_scored_with_the_letters(data, tmp_path)


def test_lm_decoding_with_an_arpa_of_the_transcripts(czech, finetuned, tmp_path):
    data, _ = czech
    lm = tmp_path / "train_3gram.arpa"
    python_module("birq_fairseq.lm.build_arpa", "--order", "3", "--out", str(lm),
                  str(data / "train.wrd"))
    unigrams = {line.split("\t")[1] for line in lines(lm) if line.count("\t") == 2}
    assert CZECH_LETTERS & set("".join(unigrams))
    generate(data, finetuned, "test", tmp_path, "--ctc-decoder", "beam", "--lm-path", str(lm),
             "--lm-weight", "0.5", "--word-score", "1.0", "--beam", "16")
    assert_scored_with_the_letters(data, tmp_path)
