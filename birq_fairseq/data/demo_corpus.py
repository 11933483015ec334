"""A small, fully local English speech corpus for trying out pretraining and fine-tuning.

Usage::

    python -m birq_fairseq.data.demo_corpus --audio-out data/demo --manifests manifests/demo \\
        [--synth-utterances N] [--real-limit N] [--seed 1]

Sources (all installed from Debian packages, nothing is downloaded):

* real speech: the ``asterisk-core-sounds-en-wav`` telephony prompts of one speaker
  (Allison, 8 kHz) with the transcripts of ``asterisk-core-sounds-en``, and the LibriVox and
  "cards" recordings of ``pocketsphinx-testdata`` with their transcription files;
* synthetic speech: ``espeak-ng`` reading sentences of 3-8 words drawn from a small grammar
  over a few hundred common words, with the voice (accent + variant), speed and pitch of
  each sentence drawn from the seed.

Everything is converted to 16 kHz mono PCM_16 wav under ``--audio-out`` (``real/...`` and
``synth/...``); utterances shorter than 0.5 s or longer than 15 s are dropped.  Manifests
(root line = the absolute audio folder) go to three folders under ``--manifests``:

* ``pretrain/{train,valid}.tsv``: unlabelled audio for self-supervised pretraining, i.e. all
  synthetic and real audio that is not in a test set;
* ``finetune/{train,valid}.{tsv,wrd,ltr}`` and ``finetune/dict.ltr.txt`` (from train):
  labelled data.  ``finetune/train`` is all real training audio plus half of the synthetic
  training audio, a subset of ``pretrain/train`` as LibriSpeech 100 h is of 960 h;
  ``finetune/valid`` is the same audio as ``pretrain/valid``;
* ``finetune/test_synth.*``: every 10th generated sentence, spoken only by held-out voices
  (those using the accent or one of the variants that no training sentence uses);
  ``finetune/test_real.*``: 20 % of the asterisk prompt texts, with all their recordings;
  ``finetune/test.*``: the union of both.

Phone alignments (``SPLIT.phn``, one phone per 10 ms frame, see
``birq_fairseq.alignment.phone_alignments``) come with the valid and test splits, for
measuring label quality: synthetic speech carries the exact phoneme segments that
libespeak-ng reports while it speaks (espeak-ng's phoneme names), real speech is
force-aligned with PocketSphinx (CMU phones); utterances that PocketSphinx cannot align are
left out of the ``.phn`` file with a count.  Each utterance's alignment is kept beside its
audio (``.phn``) so reruns need not redo it.

The test sets share neither audio nor sentence text with pretrain/finetune train or valid,
and train and valid share no sentence text.  Reruns skip synthesis, conversion and
alignment of files that exist (synthetic file names carry a hash of text, voice, speed and
pitch) and rewrite the manifests, which is cheap.
"""

import argparse
import gzip
import hashlib
import random
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from birq_fairseq.alignment import espeak_synth
from birq_fairseq.alignment.phone_alignments import (
    ALIGNMENT_SUFFIX,
    num_phone_frames,
    segments_to_frames,
    utterance_id,
    write_alignments,
)
from birq_fairseq.alignment.pocketsphinx_align import align_file
from birq_fairseq.data.audio_io import (
    TARGET_SAMPLE_RATE,
    convert_to_wav16,
    is_up_to_date,
    num_samples,
    resample,
    write_wav16,
)
from birq_fairseq.data.manifests import (
    MANIFEST_SUFFIX,
    split_ids,
    write_labels,
    write_letter_dictionary,
    write_lines_atomically,
    write_manifest,
)
from birq_fairseq.data.text_normalization import normalize_transcript
from birq_fairseq.tools import tool_parser

ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_PREFIX = "real/asterisk/"  # utterance ids of the prompts, under the audio folder
ASTERISK_TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
# Telephone keys as the prompts pronounce them ("press * to ..." is read "press star to ...").
ASTERISK_KEY_NAMES = {"*": " star ", "#": " pound "}
# Parentheses hold notes on the recording, e.g. "(10 seconds of silence)", never speech.
ASTERISK_NOTE_RE = re.compile(r"\([^)]*\)")
POCKETSPHINX_DATA = Path("/usr/share/pocketsphinx/test/data")
POCKETSPHINX_SETS = (("librivox", "transcription"), ("cards", "cards.transcription"))
# Sphinx transcription line: "<s> words </s> (file_id)".
SPHINX_LINE_RE = re.compile(r"^<s>(?P<text>.*)</s>\s*\((?P<file_id>[^)]+)\)\s*$")

VOICE_ACCENTS = ("en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-029")
VOICE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4")
HELD_OUT_ACCENTS = ("en-029",)
HELD_OUT_VARIANTS = ("m7", "f4")
SPEED_RANGE = (130, 190)  # espeak-ng -s, words per minute
PITCH_RANGE = (30, 70)  # espeak-ng -p, 0-99
SENTENCE_WORDS = (3, 8)
DIGIT_COUNT_PROBABILITY = 0.3  # share of counts written as digits, to exercise normalisation
DIGIT_COUNT_RANGE = (2, 99)
MAX_DRAWS_PER_SENTENCE = 100  # tries to draw an unseen sentence before giving up

MIN_SECONDS = 0.5
MAX_SECONDS = 15.0
DEFAULT_SYNTH_UTTERANCES = 1300  # with the ~0.3 h of real prompts, about 1.2 h in total
SYNTH_TEST_EVERY = 10  # sentence i is a test_synth sentence when i % 10 == 9
TEST_REAL_FRACTION = 0.2  # share of asterisk prompt texts held out as test_real
VALID_FRACTION = 0.1  # share of the remaining texts used for validation
FINETUNE_SYNTH_FRACTION = 0.5  # share of synthetic training audio that is labelled
WORKERS = 2
# Splits that get a phone alignment file (what label quality is measured on).
ALIGNED_SPLITS = ("pretrain/valid", "finetune/valid", "finetune/test_synth",
                  "finetune/test_real", "finetune/test")
PROGRESS_EVERY = 200

SECONDS_PER_HOUR = 3600
REAL, SYNTHETIC = "real", "synthetic"

# --- grammar -------------------------------------------------------------------------------

NOUNS = dict(
    pair.split()
    for pair in """
    apple apples, bag bags, ball balls, banana bananas, basket baskets, bed beds, bell bells,
    bicycle bicycles, bird birds, boat boats, book books, bottle bottles, box boxes,
    bridge bridges, brush brushes, bucket buckets, bus buses, button buttons, cake cakes,
    camera cameras, candle candles, car cars, card cards, carpet carpets, cat cats,
    chair chairs, child children, clock clocks, coat coats, coin coins, computer computers,
    cow cows, cup cups, desk desks, dog dogs, door doors, dress dresses, duck ducks, egg eggs,
    engine engines, envelope envelopes, fence fences, flag flags, flower flowers, fork forks,
    fox foxes, gate gates, glass glasses, glove gloves, goat goats, guitar guitars,
    hammer hammers, hat hats, horse horses, jacket jackets, jar jars, key keys, kite kites,
    knife knives, ladder ladders, lamp lamps, leaf leaves, letter letters, lion lions, map maps,
    mirror mirrors, monkey monkeys, mouse mice, mug mugs, nail nails, necklace necklaces,
    needle needles, pan pans, pencil pencils, phone phones, piano pianos, picture pictures,
    pillow pillows, plate plates, potato potatoes, rabbit rabbits, radio radios, ring rings,
    rock rocks, rope ropes, sheep sheep, shirt shirts, shoe shoes, sock socks, spoon spoons,
    stamp stamps, stone stones, table tables, teapot teapots, ticket tickets, tiger tigers,
    towel towels, toy toys, train trains, tree trees, truck trucks, umbrella umbrellas,
    vase vases, wagon wagons, wheel wheels, window windows, wolf wolves
    """.split(",")
)
COLOURS = "red blue green yellow black white orange purple brown pink grey golden silver".split()
ADJECTIVES = """big small old new long short warm cold heavy light clean dirty tall tiny empty
    full round soft bright dark quiet loud fresh sharp strong lovely broken shiny wooden""".split()
COUNT_WORDS = """two three four five six seven eight nine ten eleven twelve fifteen twenty
    thirty forty fifty""".split()
NAMES = """john mary peter anna david sarah tom emma james lucy paul kate robert alice george
    helen mark julia simon laura""".split()
PLACES = """market station park school river kitchen office beach village library farm bank
    church hospital museum harbour forest airport bakery hotel""".split()
TIMES = [
    *"today yesterday tomorrow".split(),
    *(f"on {day}" for day in "monday tuesday wednesday thursday friday saturday sunday".split()),
    "this morning",
    "last night",
    "every day",
    "at noon",
    "in the evening",
    "after lunch",
    "before dinner",
]
PREPOSITIONS = "near behind under beside inside above below".split()
RELATIVES = """mother father sister brother uncle aunt friend teacher neighbour cousin
    grandmother""".split()
OBJECT_VERBS = dict(
    pair.split()
    for pair in """
    see saw, find found, take took, bring brought, buy bought, carry carried, open opened,
    paint painted, wash washed, hold held, move moved, clean cleaned, watch watched, keep kept,
    sell sold, make made, draw drew, count counted, pick picked, want wanted, need needed,
    push pushed, pull pulled, throw threw, catch caught, drop dropped, fix fixed, build built,
    lift lifted, hide hid, fill filled, borrow borrowed, lose lost, choose chose, break broke
    """.split(",")
)
MOTION_VERBS = dict(
    pair.split()
    for pair in """
    walk walked, run ran, drive drove, go went, come came, fly flew, ride rode,
    travel travelled, return returned, hurry hurried
    """.split(",")
)

Template = Callable[[random.Random], str]


def _count(rng: random.Random) -> str:
    if rng.random() < DIGIT_COUNT_PROBABILITY:
        return str(rng.randint(*DIGIT_COUNT_RANGE))
    return rng.choice(COUNT_WORDS)


def _noun(rng: random.Random) -> str:
    return rng.choice(list(NOUNS))


def _plural(rng: random.Random) -> str:
    return NOUNS[_noun(rng)]


TEMPLATES: tuple[Template, ...] = (
    lambda r: (
        f"the {r.choice(ADJECTIVES)} {_noun(r)} is {r.choice(PREPOSITIONS)} "
        f"the {r.choice(COLOURS)} {_noun(r)}"
    ),
    lambda r: (
        f"{r.choice(NAMES)} {r.choice(list(OBJECT_VERBS.values()))} "
        f"the {r.choice(COLOURS)} {_noun(r)} {r.choice(TIMES)}"
    ),
    lambda r: (
        f"{_count(r)} {r.choice(COLOURS)} {_plural(r)} are {r.choice(PREPOSITIONS)} "
        f"the {r.choice(PLACES)}"
    ),
    lambda r: f"please {r.choice(list(OBJECT_VERBS))} the {r.choice(ADJECTIVES)} {_noun(r)}",
    lambda r: f"my {r.choice(RELATIVES)} has {_count(r)} {r.choice(ADJECTIVES)} {_plural(r)}",
    lambda r: f"where is the {r.choice(COLOURS)} {_noun(r)}",
    lambda r: f"we will {r.choice(list(OBJECT_VERBS))} the {_plural(r)} {r.choice(TIMES)}",
    lambda r: (
        f"{r.choice(NAMES)} and {r.choice(NAMES)} "
        f"{r.choice(list(MOTION_VERBS.values()))} to the {r.choice(PLACES)}"
    ),
    lambda r: f"{r.choice(NAMES)} {r.choice(list(MOTION_VERBS.values()))} home {r.choice(TIMES)}",
    lambda r: f"the {_plural(r)} are {r.choice(ADJECTIVES)}",
    lambda r: f"do you want {_count(r)} {r.choice(COLOURS)} {_plural(r)}",
    lambda r: (
        f"{r.choice(NAMES)} {r.choice(list(OBJECT_VERBS.values()))} {_count(r)} "
        f"{_plural(r)} and one {_noun(r)}"
    ),
)


def generate_sentences(count: int, seed: int, excluded_texts: set[str]) -> list[str]:
    """Draw ``count`` distinct sentences; none normalises to a text in ``excluded_texts``.

    Sentences are drawn one after another from one seeded generator, so a longer list
    starts with the shorter one and reruns with more utterances reuse earlier audio.
    """
    rng = random.Random(seed)
    seen = set(excluded_texts)
    sentences = []
    while len(sentences) < count:
        for _ in range(MAX_DRAWS_PER_SENTENCE):
            sentence = rng.choice(TEMPLATES)(rng)
            text = normalize_transcript(sentence)
            if text not in seen and SENTENCE_WORDS[0] <= len(text.split()) <= SENTENCE_WORDS[1]:
                break
        else:
            raise RuntimeError(f"the grammar ran out of new sentences after {len(sentences)}")
        seen.add(text)
        sentences.append(sentence)
    return sentences


def voices(held_out: bool) -> list[str]:
    """espeak-ng voices ``accent+variant``; held-out ones use an accent or variant no other does.

    Training voices avoid every held-out accent and variant, so each test voice is new.
    """
    return [
        f"{accent}+{variant}"
        for accent in VOICE_ACCENTS
        for variant in VOICE_VARIANTS
        if (accent in HELD_OUT_ACCENTS or variant in HELD_OUT_VARIANTS) == held_out
    ]


# --- utterances ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Utterance:
    """One audio file of the corpus; ``utt_id`` is its path under the audio folder, no suffix."""

    utt_id: str
    text: str  # normalised words
    origin: str  # REAL or SYNTHETIC
    source: Path | None = None  # original recording (real speech only)
    sentence: str = ""  # text given to espeak-ng (synthetic speech only)
    voice: str = ""
    speed: int = 0
    pitch: int = 0
    held_out: bool = False  # synthetic test sentence

    @property
    def rel_path(self) -> str:
        return f"{self.utt_id}.wav"


def asterisk_prompts() -> list[Utterance]:
    """Prompts of ``core-sounds-en.txt.gz`` (``name: text``) that have a wav and speech."""
    if not ASTERISK_TRANSCRIPTS.exists():
        print(f"warning: {ASTERISK_TRANSCRIPTS} missing (apt install asterisk-core-sounds-en)")
        return []
    prompts = []
    with gzip.open(ASTERISK_TRANSCRIPTS, "rt", encoding="utf-8") as lines:
        for line in lines:
            name, separator, text = line.partition(":")
            name = name.strip()
            wav = ASTERISK_SOUNDS / f"{name}.wav"
            if line.startswith(";") or not separator or not wav.exists():
                continue
            text = ASTERISK_NOTE_RE.sub(" ", text)
            for key, spoken in ASTERISK_KEY_NAMES.items():
                text = text.replace(key, spoken)
            words = normalize_transcript(text)
            if words:  # entries such as "[ascending tones]" are not speech
                prompts.append(Utterance(f"{ASTERISK_PREFIX}{name}", words, REAL, wav))
    return prompts


def pocketsphinx_recordings() -> list[Utterance]:
    """LibriVox and "cards" recordings of pocketsphinx-testdata with their transcriptions."""
    recordings = []
    for folder, transcription in POCKETSPHINX_SETS:
        path = POCKETSPHINX_DATA / folder / transcription
        if not path.exists():
            print(f"warning: {path} missing (apt install pocketsphinx-testdata)")
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            found = SPHINX_LINE_RE.match(line.strip())
            if not found:
                continue
            file_id, words = found["file_id"], normalize_transcript(found["text"])
            wav = POCKETSPHINX_DATA / folder / f"{file_id}.wav"
            if wav.exists() and words:
                recordings.append(Utterance(f"real/{folder}/{file_id}", words, REAL, wav))
    return recordings


def synthetic_utterances(count: int, seed: int, excluded_texts: set[str]) -> list[Utterance]:
    """``count`` espeak-ng utterances; every ``SYNTH_TEST_EVERY``-th is a held-out one."""
    train_voices, test_voices = voices(held_out=False), voices(held_out=True)
    utterances = []
    for index, sentence in enumerate(generate_sentences(count, seed, excluded_texts)):
        held_out = index % SYNTH_TEST_EVERY == SYNTH_TEST_EVERY - 1
        rng = random.Random(f"{seed}:{index}")  # per-utterance stream: stable across counts
        voice = rng.choice(test_voices if held_out else train_voices)
        speed, pitch = rng.randint(*SPEED_RANGE), rng.randint(*PITCH_RANGE)
        digest = hashlib.sha1(f"{sentence}|{voice}|{speed}|{pitch}".encode()).hexdigest()[:10]
        utterances.append(
            Utterance(
                utt_id=f"synth/{index:05d}_{digest}",
                text=normalize_transcript(sentence),
                origin=SYNTHETIC,
                sentence=sentence,
                voice=voice,
                speed=speed,
                pitch=pitch,
                held_out=held_out,
            )
        )
    return utterances


# --- audio ---------------------------------------------------------------------------------


def alignment_sidecar(audio: Path) -> Path:
    """Where one utterance's phone alignment is kept: beside its audio. An empty file
    records that the aligner failed on it."""
    return audio.with_suffix(ALIGNMENT_SUFFIX)


def write_sidecar(audio: Path, phones: Sequence[str]) -> None:
    write_lines_atomically(alignment_sidecar(audio), [",".join(phones)] if phones else [])


def synthesize(sentence: str, voice: str, speed: int, pitch: int, destination: Path) -> int:
    """Speak ``sentence`` with libespeak-ng into a 16 kHz wav and keep its exact phone
    alignment beside it; returns the length in samples."""
    speech = espeak_synth.synthesize(sentence, voice, speed, pitch)
    audio = resample(speech.audio, speech.sample_rate)
    write_wav16(destination, audio)
    frames = num_phone_frames(len(audio), TARGET_SAMPLE_RATE)
    write_sidecar(destination, segments_to_frames(speech.segments, frames))
    return len(audio)


def _needs_audio(utterance: Utterance, audio_out: Path) -> bool:
    target = audio_out / utterance.rel_path
    if utterance.source is not None:
        return not is_up_to_date(utterance.source, target)
    return not target.exists() or not alignment_sidecar(target).exists()


def force_align(audio_path: Path, words: str) -> bool:
    """Align one real recording with PocketSphinx and keep the result beside it (an empty
    file when it cannot be aligned); returns whether it aligned."""
    frames = align_file(str(audio_path), words)
    aligned = not isinstance(frames, str)
    write_sidecar(audio_path, frames if aligned else [])
    return aligned


def align_real_speech(utterances: Sequence[Utterance], audio_root: Path) -> None:
    """Force-align the real recordings among ``utterances`` that have no alignment yet."""
    todo = []
    for utterance in utterances:
        audio = audio_root / utterance.rel_path
        sidecar = alignment_sidecar(audio)
        if utterance.origin == REAL and not is_up_to_date(audio, sidecar):
            todo.append((audio, utterance.text))
    print(f"alignment: {len(todo)} real recordings to align with PocketSphinx")
    if not todo:
        return
    with ProcessPoolExecutor(WORKERS) as pool:
        aligned = sum(pool.map(force_align, *zip(*todo)))
    print(f"  aligned {aligned}/{len(todo)} (the rest are left out of the .phn files)")


def read_sidecar(audio: Path) -> list[str] | None:
    text = alignment_sidecar(audio).read_text(encoding="utf-8").strip()
    return text.split(",") if text else None


def _submit(pool: ProcessPoolExecutor, utterance: Utterance, audio_out: Path) -> Future[int]:
    target = audio_out / utterance.rel_path
    if utterance.source is not None:
        return pool.submit(convert_to_wav16, utterance.source, target)
    args = (utterance.sentence, utterance.voice, utterance.speed, utterance.pitch, target)
    return pool.submit(synthesize, *args)


def produce_audio(utterances: Sequence[Utterance], audio_out: Path) -> dict[str, int]:
    """Make the 16 kHz wav of every utterance that lacks one; returns lengths in samples."""
    todo = [utterance for utterance in utterances if _needs_audio(utterance, audio_out)]
    print(f"audio: {len(utterances) - len(todo)} files up to date, {len(todo)} to make")
    lengths: dict[str, int] = {}
    if todo:
        with ProcessPoolExecutor(WORKERS) as pool:
            futures = [(u.utt_id, _submit(pool, u, audio_out)) for u in todo]
            for done, (utt_id, future) in enumerate(futures, start=1):
                lengths[utt_id] = future.result()
                if done % PROGRESS_EVERY == 0 or done == len(futures):
                    print(f"  made {done}/{len(futures)}")
    for utterance in utterances:
        if utterance.utt_id not in lengths:
            lengths[utterance.utt_id] = num_samples(audio_out / utterance.rel_path)
    return lengths


# --- splits --------------------------------------------------------------------------------


def _split_by_text(
    utterances: Sequence[Utterance], fractions: dict[str, float], seed: int
) -> dict[str, list[Utterance]]:
    """Split whole text groups, so that no sentence text is shared between splits."""
    by_text: dict[str, list[Utterance]] = defaultdict(list)
    for utterance in utterances:
        by_text[utterance.text].append(utterance)
    text_splits = split_ids(by_text, fractions, seed)
    return {
        name: sorted((u for text in texts for u in by_text[text]), key=lambda u: u.utt_id)
        for name, texts in text_splits.items()
    }


def _held_out_prompts(utterances: Sequence[Utterance], seed: int) -> list[Utterance]:
    """``TEST_REAL_FRACTION`` of the asterisk prompt texts, with all their recordings."""
    prompts = [u for u in utterances if u.utt_id.startswith(ASTERISK_PREFIX)]
    fractions = {"test": TEST_REAL_FRACTION, "rest": 1 - TEST_REAL_FRACTION}
    return _split_by_text(prompts, fractions, seed)["test"]


def _labelled(train: Sequence[Utterance], seed: int) -> list[Utterance]:
    """All real training audio and ``FINETUNE_SYNTH_FRACTION`` of the synthetic audio."""
    synthetic = [u.utt_id for u in train if u.origin == SYNTHETIC]
    fractions = {"labelled": FINETUNE_SYNTH_FRACTION, "unlabelled": 1 - FINETUNE_SYNTH_FRACTION}
    labelled_synthetic = set(split_ids(synthetic, fractions, seed)["labelled"])
    return [u for u in train if u.origin == REAL or u.utt_id in labelled_synthetic]


def assign_splits(utterances: Sequence[Utterance], seed: int) -> dict[str, list[Utterance]]:
    """Assign utterances to the pretrain/ and finetune/ splits described in the module doc."""
    test_real = _held_out_prompts(utterances, seed)
    test_synth = [u for u in utterances if u.held_out]
    test_texts = {u.text for u in test_real + test_synth}
    rest = [u for u in utterances if u.text not in test_texts]
    dropped = len(utterances) - len(rest) - len(test_real) - len(test_synth)
    if dropped:
        print(f"dropped {dropped} non-test recordings whose text is a test sentence")

    pool = _split_by_text(rest, {"train": 1 - VALID_FRACTION, "valid": VALID_FRACTION}, seed)
    return {
        "pretrain/train": pool["train"],
        "pretrain/valid": pool["valid"],
        "finetune/train": _labelled(pool["train"], seed),
        "finetune/valid": pool["valid"],
        "finetune/test_synth": test_synth,
        "finetune/test_real": test_real,
        "finetune/test": test_synth + test_real,
    }


def write_split_files(
    splits: dict[str, list[Utterance]], lengths: dict[str, int], audio_root: Path, manifests: Path
) -> None:
    """Write every manifest (and the labels of finetune/ splits) and the letter dictionary."""
    for name, members in splits.items():
        prefix = manifests / name
        entries = [(u.rel_path, lengths[u.utt_id]) for u in members]
        write_manifest(f"{prefix}{MANIFEST_SUFFIX}", audio_root, entries)
        if name.startswith("finetune/"):
            write_labels(prefix, [u.text for u in members], normalize=False)
        if name in ALIGNED_SPLITS:
            write_split_alignments(f"{prefix}{ALIGNMENT_SUFFIX}", members, audio_root)
    finetune = manifests / "finetune"
    write_letter_dictionary(finetune / "dict.ltr.txt", [finetune / "train.ltr"])


def write_split_alignments(path: str, members: Sequence[Utterance], audio_root: Path) -> None:
    alignments = {}
    for utterance in members:
        phones = read_sidecar(audio_root / utterance.rel_path)
        if phones is not None:
            alignments[utterance_id(utterance.rel_path)] = phones
    write_alignments(path, alignments)
    print(f"{path}: {len(alignments)} of {len(members)} utterances aligned")


def summarize(splits: dict[str, list[Utterance]], lengths: dict[str, int]) -> dict[str, dict]:
    """Per split: utterances, hours, and real/synthetic utterance counts."""
    return {
        name: {
            "utterances": len(members),
            "hours": sum(lengths[u.utt_id] for u in members)
            / TARGET_SAMPLE_RATE
            / SECONDS_PER_HOUR,
            REAL: sum(u.origin == REAL for u in members),
            SYNTHETIC: sum(u.origin == SYNTHETIC for u in members),
        }
        for name, members in splits.items()
    }


def format_table(summary: dict[str, dict]) -> str:
    rows = [f"{'split':<22}{'utterances':>11}{'hours':>8}{'real':>7}{'synthetic':>11}"]
    for name, row in summary.items():
        rows.append(
            f"{name:<22}{row['utterances']:>11}{row['hours']:>8.3f}"
            f"{row[REAL]:>7}{row[SYNTHETIC]:>11}"
        )
    return "\n".join(rows)


def build_demo_corpus(
    audio_out: Path,
    manifests: Path,
    synth_utterances: int = DEFAULT_SYNTH_UTTERANCES,
    real_limit: int | None = None,
    seed: int = 1,
) -> dict[str, dict]:
    """Build the corpus (see the module docstring) and return the per-split summary.

    ``real_limit`` keeps a seeded random choice of that many real recordings, to make
    small test builds.  Returns ``{split: {"utterances", "hours", "real", "synthetic"}}``
    with splits named like ``"finetune/test_real"``.
    """
    started = time.monotonic()
    audio_root = Path(audio_out).resolve()
    real = sorted(asterisk_prompts() + pocketsphinx_recordings(), key=lambda u: u.utt_id)
    real_texts = {u.text for u in real}
    if real_limit is not None and real_limit < len(real):
        real = sorted(random.Random(seed).sample(real, real_limit), key=lambda u: u.utt_id)
    synthetic = synthetic_utterances(synth_utterances, seed, real_texts)
    print(f"{len(real)} real recordings, {len(synthetic)} synthetic sentences")

    candidates = real + synthetic
    lengths = produce_audio(candidates, audio_root)
    min_samples, max_samples = MIN_SECONDS * TARGET_SAMPLE_RATE, MAX_SECONDS * TARGET_SAMPLE_RATE
    kept = [u for u in candidates if min_samples <= lengths[u.utt_id] <= max_samples]
    print(f"dropped {len(candidates) - len(kept)} utterances outside {MIN_SECONDS}-{MAX_SECONDS} s")

    splits = assign_splits(kept, seed)
    aligned = {u.utt_id: u for name in ALIGNED_SPLITS for u in splits[name]}
    align_real_speech(sorted(aligned.values(), key=lambda u: u.utt_id), audio_root)
    write_split_files(splits, lengths, audio_root, Path(manifests))
    summary = summarize(splits, lengths)
    print(format_table(summary))
    print(f"demo corpus ready in {time.monotonic() - started:.1f} s: {audio_root}, {manifests}")
    return summary


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = tool_parser("birq_fairseq.data.demo_corpus", __doc__)
    parser.add_argument("--audio-out", type=Path, default=Path("data/demo"),
                        help="folder for the 16 kHz wavs and alignments (default %(default)s)")
    parser.add_argument("--manifests", type=Path, default=Path("manifests/demo"),
                        help="folder for pretrain/ and finetune/ (default %(default)s)")
    parser.add_argument("--synth-utterances", type=int, default=DEFAULT_SYNTH_UTTERANCES,
                        help="espeak-ng sentences to make (default %(default)s)")
    parser.add_argument("--real-limit", type=int, help="use only this many real recordings")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed of sentences, voices and splits (default %(default)s)")
    return parser.parse_args(None if argv is None else list(argv))


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    build_demo_corpus(
        args.audio_out, args.manifests, args.synth_utterances, args.real_limit, args.seed
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
