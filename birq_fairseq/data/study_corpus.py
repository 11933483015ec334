"""A local speech corpus for a small-scale pretraining study: >= 10 h of unlabelled 16 kHz
audio, 10-minute and 1-hour labelled English sets, and held-out valid and test sets.

Usage::

    python -m birq_fairseq.data.study_corpus --out DIR [--stage N] [--stop-stage M] \\
        [--hours-synthetic H] [--real-limit N] [--languages es fr it ru] \\
        [--augment-fraction F] [--noise-snr DB] [--seed S]

The bigger sibling of ``birq_fairseq.data.demo_corpus``, built from its pieces (grammar,
voices, real prompt readers, libespeak-ng synthesis with exact phone alignments,
PocketSphinx alignment of real speech).  Nothing is downloaded; the sources are Debian
packages (a missing one is reported with its ``apt-get install`` line and left out):

* real English: the ``asterisk-core-sounds-en-wav`` prompts (one speaker, Allison) and the
  ``pocketsphinx-testdata`` LibriVox and "cards" recordings;
* real speech in other languages (``--languages``, unlabelled): the
  ``asterisk-core-sounds-{es,fr,it,ru}-wav`` prompts (es: Allison again, fr: June,
  it: Carlo, ru: IvrvoiceRU), kept when their ``core-sounds-XX.txt.gz`` line holds speech;
* synthetic English, about ``--hours-synthetic`` hours: espeak-ng with the demo's voices
  widened by more accents and variants, 115-215 words per minute, pitch 20-80, reading the
  demo grammar's sentences, sentences of 3-20 words from Debian's ``fortunes`` databases and
  the real English transcripts;
* augmented copies (``--augment-fraction`` of the pretraining utterances, pretraining only):
  sox speed perturbation 0.9 / 1.1, white noise at ``--noise-snr`` dB (over the whole
  utterance) or reverberation, one effect per copy.

Held out, as in the demo corpus, by whole sentence texts and whole voices: every 40th
grammar and fortune sentence is a test sentence and every 40th (offset by 20) a valid one;
of the real English prompt texts 20 % are test and 10 % valid texts (a synthetic reading of
a prompt text goes where the text goes), the LibriVox reader is test and the "cards"
speaker valid speech.  Test sentences are spoken by the voices of
``demo_corpus.voices(held_out=True)`` and the widened ones under the same rule (an accent
or variant that no training voice uses), valid sentences by 10 % of the other voices, which
training never uses.  Real Allison is the only English speaker with enough speech, so her
held-out prompts are new texts but not a new speaker (her Spanish prompts are pretraining
data).  Utterances outside 0.5-15 s are dropped, except real pretraining recordings over
15 s (long menu prompts, about 0.6 h): those are cut into equal unlabelled pieces of at most
12 s (``NAME__partK``).

Stages (``--stage`` / ``--stop-stage``; each skips the work that is done):

0. check the sources and tools, print what is missing;
1. plan: choose every utterance (texts, voices, rates, splits, augmentations) into
   ``DIR/plan.jsonl``; skipped when it exists with the same options.  Later stages follow
   the plan and refuse options that differ from it;
2. real audio: 16 kHz wavs of the real recordings and of the pieces of long ones;
3. synthetic audio: espeak-ng wavs, each with its exact phone alignment beside it (``.phn``);
4. augmentation: the sox copies;
5. alignment: PocketSphinx alignments of the real English speech that the labelled, valid
   and test sets use (an utterance it cannot align is left out of the ``.phn`` files);
6. manifests, labels, ``.phn`` files, ``dict.ltr.txt`` and ``DIR/summary.json``.

Layout: ``DIR/audio/{real,synth,aug}/...`` and, under ``DIR/manifests/``:

* ``pretrain/{train,valid}.tsv`` and ``pretrain/valid.phn``: train is every real,
  synthetic and augmented utterance outside valid and test; valid is English real and
  synthetic speech of held-out texts and voices (the finetune valid audio);
* ``finetune_10min/`` and ``finetune_1h/``: ``{train,valid,test_synth,test_real}`` with
  ``.tsv/.wrd/.ltr/.phn`` and ``dict.ltr.txt``.  ``train`` is up to half real English and
  the rest synthetic, drawn from ``pretrain/train`` minus its augmented copies; the 10-minute
  set is part of the 1-hour set.  Both folders have the same dictionary (letters of the 1 h
  train set, then those only the held-out sets use, with count 0) and the same valid and
  test sets.

Phone alignments name espeak-ng's phonemes for synthetic speech and CMU phones for real
speech, as in the demo corpus: ``test_synth.phn`` and ``test_real.phn`` each hold one
inventory, ``valid.phn`` both.  Fortune and transcript sentences are given to espeak-ng as
their normalised words, so the labels are what it reads.

Point ``config/pretraining/*_demo.yaml`` at ``task.data=DIR/manifests/pretrain`` and
``config/finetuning/demo.yaml`` at ``task.data=DIR/manifests/finetune_1h``.  The plan, the
audio and the manifests depend on the options and ``--seed`` only: a rebuild makes the same
files.
"""

import argparse
import gzip
import hashlib
import importlib.util
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from birq_fairseq.alignment.phone_alignments import ALIGNMENT_SUFFIX
from birq_fairseq.data.audio_io import (
    TARGET_SAMPLE_RATE,
    is_up_to_date,
    load_mono_16k,
    num_samples,
    write_wav16,
)
from birq_fairseq.data.demo_corpus import (
    ASTERISK_NOTE_RE,
    ASTERISK_SOUNDS,
    HELD_OUT_ACCENTS,
    HELD_OUT_VARIANTS,
    MAX_SECONDS,
    MIN_SECONDS,
    POCKETSPHINX_DATA,
    PROGRESS_EVERY,
    REAL,
    SECONDS_PER_HOUR,
    SYNTHETIC,
    VOICE_ACCENTS,
    VOICE_VARIANTS,
    WORKERS,
    Utterance,
    align_real_speech,
    alignment_sidecar,
    asterisk_prompts,
    generate_sentences,
    pocketsphinx_recordings,
    produce_audio,
    read_sidecar,
    voices,
    write_split_alignments,
)
from birq_fairseq.data.manifests import (
    MANIFEST_SUFFIX,
    split_ids,
    write_labels,
    write_letter_dictionary,
    write_lines_atomically,
    write_manifest,
)
from birq_fairseq.data.text_normalization import normalize_transcript, words_to_letters
from birq_fairseq.tools import tool_parser

# --- sources -------------------------------------------------------------------------------

ENGLISH = "en"
DEFAULT_LANGUAGES = ("es", "fr", "it", "ru")
ASTERISK_ROOT = Path("/usr/share/asterisk/sounds")
# The prompt folders of asterisk-core-sounds-XX-wav (``dpkg -L``): LANG_REGION_SEX_SPEAKER.
ASTERISK_FOLDERS = {
    "es": "es_MX_f_Allison",
    "fr": "fr_CA_f_June",
    "it": "it_IT_m_Carlo",
    "ru": "ru_RU_f_IvrvoiceRU",
}
ASTERISK_DOC = "/usr/share/doc/asterisk-core-sounds-{lang}/core-sounds-{lang}.txt.gz"
ASTERISK_COMMENT = ";"
POCKETSPHINX_PACKAGE = "pocketsphinx-testdata"
FORTUNES = Path("/usr/share/games/fortunes")
FORTUNE_PACKAGES = ("fortunes-min", "fortunes")
# ascii-art holds pictures, translate-me Latin.
FORTUNE_SKIPPED = frozenset({"ascii-art", "translate-me"})
FORTUNE_SEPARATOR_RE = re.compile(r"^%\s*$", re.MULTILINE)
OVERSTRIKE_RE = re.compile(r".\x08")  # "_\bA": underlined or bold letters of old fortunes
ATTRIBUTION_PREFIX = "--"  # "        -- Mark Twain"
SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")
# Characters of code, maths, pictures and addresses: such a sentence is not read as written.
NOT_PROSE_RE = re.compile(r"[|_<>\\/=@#{}\[\]~^*$+]")
FORTUNE_WORDS = (3, 20)
# Real pretraining recordings longer than MAX_SECONDS are cut into equal pieces of at most
# this length, short enough that a speed 0.9 copy stays within MAX_SECONDS.
MAX_PIECE_SECONDS = 12.0
PIECE_MARK = "__part"  # real/asterisk/demo-instruct__part2

# --- synthetic speech ----------------------------------------------------------------------

GRAMMAR, FORTUNE, TRANSCRIPT = "grammar", "fortunes", "transcripts"
# Share of synthetic utterances per text source, while the source lasts.
SOURCE_WEIGHTS = {GRAMMAR: 0.3, FORTUNE: 0.6, TRANSCRIPT: 0.1}
FIRST_GRAMMAR_DRAW = 1024  # sentences asked of the grammar at first; doubled when used up
EXTRA_ACCENTS = ("en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
EXTRA_VARIANTS = (
    "m8", "f5", "Andy", "Annie", "adam", "aunty", "boris", "caleb", "david", "edward",
    "grandma", "grandpa", "iven", "john", "klatt", "klatt2", "linda", "max", "norbert",
    "quincy", "robert", "steph", "travis", "zac",
)  # fmt: skip
EXTRA_HELD_OUT_VARIANTS = ("Lee", "belinda", "klatt4")
VALID_VOICE_FRACTION = 0.1
SPEED_RANGE = (115, 215)  # espeak-ng words per minute
PITCH_RANGE = (20, 80)
# Planned length of a sentence: espeak-ng speaks about this share of words * 60 / rate
# seconds, plus its end pause (measured on the sources above).
SPOKEN_FRACTION = 0.78
END_PAUSE_SECONDS = 0.44
DEFAULT_HOURS_SYNTHETIC = 10.0

# --- splits --------------------------------------------------------------------------------

TRAIN, VALID, TEST = "train", "valid", "test"
ROLE_PERIOD = 40  # grammar and fortune sentence i: valid if i % 40 == 19, test if i % 40 == 39
VALID_POSITION, TEST_POSITION = 19, 39
REAL_TEXT_FRACTIONS = {TEST: 0.2, VALID: 0.1, TRAIN: 0.7}
POCKETSPHINX_ROLES = {"librivox": TEST, "cards": VALID}  # whole held-out speakers
ROLE_STRICTNESS = (TRAIN, VALID, TEST)  # a text in two roles takes the stricter
LABELLED_SETS = {"finetune_10min": 600.0, "finetune_1h": 3600.0}  # seconds of train audio
REAL_LABELLED_SHARE = 0.5  # at most this share of a labelled set is real speech
LABELLED_SPLITS = (TRAIN, VALID, "test_synth", "test_real")
DICTIONARY_SOURCE = "finetune_1h/train"
PRETRAIN_TRAIN, PRETRAIN_VALID = "pretrain/train", "pretrain/valid"

# --- augmentation --------------------------------------------------------------------------

AUGMENTED = "augmented"
SOX = "sox"
SOX_QUIET = ("-R", "-V1")  # repeatable random numbers (dither, noise), errors only
SOX_FORMAT = ("-r", str(TARGET_SAMPLE_RATE), "-c", "1", "-b", "16")
# A copy's effect: speed (0.9 or 1.1) for half of them, noise or reverb for a quarter each.
AUGMENTATION_KINDS = ("speed", "speed", "noise", "reverb")
SPEED_FACTORS = ("0.9", "1.1")
REVERBERANCE = "50"  # percent, sox reverb's first argument
MAX_NOISE_OFFSET = 10 * TARGET_SAMPLE_RATE  # noise starts this many samples in at most
DEFAULT_AUGMENT_FRACTION = 0.25
DEFAULT_NOISE_SNR_DB = 15.0
DECIBELS_PER_POWER_DECADE = 10

# --- stages --------------------------------------------------------------------------------

PLAN_FILE, SUMMARY_FILE = "plan.jsonl", "summary.json"
STAGE_NAMES = ("check sources", "plan", "real audio", "synthetic audio", "augmentation",
               "alignment", "manifests")
LAST_STAGE = len(STAGE_NAMES) - 1


@dataclass(frozen=True)
class StudyOptions:
    """What the plan depends on; saved in the plan and checked by every later stage."""

    hours_synthetic: float = DEFAULT_HOURS_SYNTHETIC
    real_limit: int | None = None  # real recordings per recording set (None: all)
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    augment_fraction: float = DEFAULT_AUGMENT_FRACTION
    noise_snr_db: float = DEFAULT_NOISE_SNR_DB
    seed: int = 1


@dataclass(frozen=True)
class StudyUtterance(Utterance):
    """A demo-corpus utterance with what the study's splits and summary need.

    ``origin`` is REAL, SYNTHETIC or AUGMENTED; ``speaker`` the recording's speaker or the
    espeak-ng voice; ``role`` the split family of its text and voice (train, valid or test;
    always train for other languages and augmented copies).  An augmented copy names its
    ``base`` utterance and its sox ``effect`` (``speed 1.1``, ``reverb 50``,
    ``noise SNR_DB OFFSET_SAMPLES``).  A piece of a long real pretraining recording has
    no transcript (``text`` is empty).
    """

    language: str = ENGLISH
    speaker: str = ""
    role: str = TRAIN
    text_source: str = ""
    effect: str = ""
    base: str = ""
    start: int = 0  # a piece of a long recording: its samples [start, stop) at 16 kHz
    stop: int = 0  # 0: the whole recording

    @property
    def is_piece(self) -> bool:
        return self.stop > 0


def _study(utterance: Utterance, **changes) -> StudyUtterance:
    values = {f.name: getattr(utterance, f.name) for f in fields(Utterance)}
    return StudyUtterance(**{**values, **changes})


def _warn_missing(path: Path, packages: Iterable[str]) -> None:
    print(f"warning: {path} missing; left out (apt-get install -y {' '.join(packages)})")


def english_real_recordings(seed: int) -> list[StudyUtterance]:
    """The demo's real English recordings, each with its speaker and the role of its text.

    Roles come from all prompt texts, before any ``--real-limit``, so a smaller build holds
    out the same texts.
    """
    allison = ASTERISK_SOUNDS.name.rsplit("_", 1)[-1]
    recordings = [_study(u, speaker=allison, text_source="asterisk-en") for u in asterisk_prompts()]
    for utterance in pocketsphinx_recordings():
        folder = utterance.utt_id.split("/")[1]
        speaker = f"pocketsphinx-{folder}"
        recordings.append(_study(utterance, speaker=speaker, text_source=speaker))
    roles = real_text_roles(recordings, seed)
    return sorted((replace(u, role=roles[u.text]) for u in recordings), key=lambda u: u.utt_id)


def _stricter(first: str, second: str) -> str:
    return max(first, second, key=ROLE_STRICTNESS.index)


def real_text_roles(recordings: Sequence[Utterance], seed: int) -> dict[str, str]:
    """Role of every real English text: a share of the prompt texts is valid or test, the
    PocketSphinx speakers' texts are valid or test (``POCKETSPHINX_ROLES``)."""
    prompt_texts = sorted({u.text for u in recordings if u.utt_id.startswith("real/asterisk/")})
    roles = {
        text: role
        for role, texts in split_ids(prompt_texts, REAL_TEXT_FRACTIONS, seed).items()
        for text in texts
    }
    for utterance in recordings:
        folder = utterance.utt_id.split("/")[1]
        role = POCKETSPHINX_ROLES.get(folder, TRAIN)
        roles[utterance.text] = _stricter(roles.get(utterance.text, TRAIN), role)
    return roles


def asterisk_language_prompts(lang: str) -> list[StudyUtterance]:
    """Prompts of one ``asterisk-core-sounds-LANG`` set whose ``name: text`` line holds
    speech; ``text`` keeps the language's letters (it labels nothing)."""
    folder = ASTERISK_ROOT / ASTERISK_FOLDERS[lang]
    transcripts = Path(ASTERISK_DOC.format(lang=lang))
    packages = (f"asterisk-core-sounds-{lang}-wav", f"asterisk-core-sounds-{lang}")
    for path in (folder, transcripts):
        if not path.exists():
            _warn_missing(path, packages)
            return []
    speaker = folder.name.rsplit("_", 1)[-1]
    prompts: dict[str, StudyUtterance] = {}
    with gzip.open(transcripts, "rt", encoding="utf-8-sig") as lines:
        for line in lines:
            name, separator, text = line.partition(":")
            name = name.strip()
            wav = folder / f"{name}.wav"
            if (line.startswith(ASTERISK_COMMENT) or not separator or name in prompts
                    or not wav.exists()):
                continue  # a name listed twice (es: digits/0) keeps its first line
            words = normalize_transcript(ASTERISK_NOTE_RE.sub(" ", text), "keep", lang=None)
            if words:
                prompts[name] = StudyUtterance(
                    f"real/asterisk_{lang}/{name}", words, REAL, wav, language=lang,
                    speaker=speaker, text_source=f"asterisk-{lang}",
                )
    return sorted(prompts.values(), key=lambda u: u.utt_id)


def limit_per_set(recordings: Sequence[StudyUtterance], limit: int | None, seed: int
                  ) -> list[StudyUtterance]:
    """A seeded choice of ``limit`` recordings of each set (``real/SET/...``)."""
    sets: dict[str, list[StudyUtterance]] = {}
    for utterance in recordings:
        sets.setdefault(utterance.utt_id.split("/")[1], []).append(utterance)
    kept = []
    for name, members in sorted(sets.items()):
        if limit is not None and limit < len(members):
            members = random.Random(f"{seed}:{name}").sample(members, limit)
        kept += members
    return sorted(kept, key=lambda u: u.utt_id)


def pieces_of(recording: StudyUtterance) -> list[StudyUtterance]:
    """A real pretraining recording longer than ``MAX_SECONDS`` as equal pieces of at most
    ``MAX_PIECE_SECONDS`` (unlabelled: a piece has no transcript); others as they are."""
    info = sf.info(str(recording.source))
    samples = math.ceil(info.frames * TARGET_SAMPLE_RATE / info.samplerate)  # as resample()
    if recording.role != TRAIN or samples <= MAX_SECONDS * TARGET_SAMPLE_RATE:
        return [recording]
    count = math.ceil(samples / (MAX_PIECE_SECONDS * TARGET_SAMPLE_RATE))
    bounds = [round(index * samples / count) for index in range(count + 1)]
    return [
        replace(recording, utt_id=f"{recording.utt_id}{PIECE_MARK}{number}", text="",
                start=start, stop=stop)
        for number, (start, stop) in enumerate(zip(bounds, bounds[1:]), start=1)
    ]


def fortune_sentences(excluded_texts: set[str]) -> list[str]:
    """Distinct normalised sentences of 3-20 words from the plain-text fortune files
    (entries between ``%`` lines, attributions dropped), none in ``excluded_texts``."""
    if not FORTUNES.is_dir():
        _warn_missing(FORTUNES, FORTUNE_PACKAGES)
        return []
    texts = set()
    for path in sorted(FORTUNES.iterdir()):
        if path.suffix or path.name in FORTUNE_SKIPPED or not path.is_file():
            continue  # .dat indexes and .u8 links
        raw = OVERSTRIKE_RE.sub("", path.read_text(encoding="utf-8", errors="replace"))
        for entry in FORTUNE_SEPARATOR_RE.split(raw):
            lines = (line.strip() for line in entry.splitlines())
            body = " ".join(line for line in lines if not line.startswith(ATTRIBUTION_PREFIX))
            for sentence in SENTENCE_END_RE.split(body):
                if NOT_PROSE_RE.search(sentence):
                    continue
                text = normalize_transcript(sentence)
                if FORTUNE_WORDS[0] <= len(text.split()) <= FORTUNE_WORDS[1]:
                    texts.add(text)
    return sorted(texts - excluded_texts)


def study_voices(held_out: bool) -> list[str]:
    """``demo_corpus.voices(held_out)`` and the voices that ``EXTRA_ACCENTS``,
    ``EXTRA_VARIANTS`` and ``EXTRA_HELD_OUT_VARIANTS`` add under the demo's rule: a held-out
    voice has an accent or a variant that no other voice uses."""
    held_accents = set(HELD_OUT_ACCENTS)
    held_variants = {*HELD_OUT_VARIANTS, *EXTRA_HELD_OUT_VARIANTS}
    demo_grid = {f"{accent}+{variant}" for accent in VOICE_ACCENTS for variant in VOICE_VARIANTS}
    widened = [
        f"{accent}+{variant}"
        for accent in (*VOICE_ACCENTS, *EXTRA_ACCENTS)
        for variant in (*VOICE_VARIANTS, *EXTRA_VARIANTS, *EXTRA_HELD_OUT_VARIANTS)
        if (accent in held_accents or variant in held_variants) == held_out
    ]
    return voices(held_out) + [voice for voice in widened if voice not in demo_grid]


def voice_pools(seed: int) -> dict[str, list[str]]:
    """Disjoint voices per role: test voices are held out as in the demo corpus, valid
    voices are ``VALID_VOICE_FRACTION`` of the others, chosen by ``seed``."""
    pools = split_ids(study_voices(held_out=False),
                      {TRAIN: 1 - VALID_VOICE_FRACTION, VALID: VALID_VOICE_FRACTION}, seed)
    return {**pools, TEST: sorted(study_voices(held_out=True))}


def estimated_seconds(text: str, speed: int) -> float:
    """About how long espeak-ng speaks ``text`` at ``speed`` words per minute."""
    return len(text.split()) * 60 / speed * SPOKEN_FRACTION + END_PAUSE_SECONDS


def _grammar_stream(seed: int, excluded_texts: set[str]) -> Iterator[tuple[str, str]]:
    """(sentence, text) of the demo grammar without end: ``generate_sentences`` is prefix
    stable, so a longer draw continues the shorter one."""
    drawn, count = 0, FIRST_GRAMMAR_DRAW
    while True:
        for sentence in generate_sentences(count, seed, excluded_texts)[drawn:]:
            yield sentence, normalize_transcript(sentence)
        drawn, count = count, 2 * count


def _shuffled(texts: Iterable[str], seed: int, name: str) -> Iterator[tuple[str, str]]:
    ordered = sorted(texts)
    random.Random(f"{seed}:{name}").shuffle(ordered)
    return ((text.lower(), text) for text in ordered)  # espeak-ng reads capitals as letters


def synthetic_plan(hours: float, seed: int, text_roles: dict[str, str]) -> list[StudyUtterance]:
    """Synthetic utterances until their planned length reaches ``hours``.

    Utterance i takes its text source (``SOURCE_WEIGHTS``), voice, rate and pitch from a
    generator seeded by i, so a plan for more hours extends the one for fewer.  Grammar and
    fortune sentences are unique in the corpus; a transcript reading takes its text's role.
    """
    real_texts = set(text_roles)
    fortunes = fortune_sentences(real_texts)
    streams: dict[str, Iterator[tuple[str, str]]] = {
        GRAMMAR: _grammar_stream(seed, real_texts | set(fortunes)),
        FORTUNE: _shuffled(fortunes, seed, FORTUNE),
        TRANSCRIPT: _shuffled(real_texts, seed, TRANSCRIPT),
    }
    pools = voice_pools(seed)
    utterances: list[StudyUtterance] = []
    planned_seconds, target_seconds = 0.0, hours * SECONDS_PER_HOUR
    while planned_seconds < target_seconds and streams:
        index = len(utterances)
        rng = random.Random(f"{seed}:{index}")
        source = rng.choices(list(streams), [SOURCE_WEIGHTS[name] for name in streams])[0]
        drawn = next(streams[source], None)
        if drawn is None:
            del streams[source]
            continue
        sentence, text = drawn
        if source == TRANSCRIPT:
            role = text_roles[text]
        else:
            role = {VALID_POSITION: VALID, TEST_POSITION: TEST}.get(index % ROLE_PERIOD, TRAIN)
        voice = rng.choice(pools[role])
        speed, pitch = rng.randint(*SPEED_RANGE), rng.randint(*PITCH_RANGE)
        digest = hashlib.sha1(f"{sentence}|{voice}|{speed}|{pitch}".encode()).hexdigest()[:10]
        utterances.append(
            StudyUtterance(
                utt_id=f"synth/{source}/{index:05d}_{digest}",
                text=text,
                origin=SYNTHETIC,
                sentence=sentence,
                voice=voice,
                speed=speed,
                pitch=pitch,
                held_out=role == TEST,
                speaker=voice,
                role=role,
                text_source=source,
            )
        )
        planned_seconds += estimated_seconds(text, speed)
    return utterances


def augmentation_plan(candidates: Sequence[StudyUtterance], fraction: float, snr_db: float,
                      seed: int) -> list[StudyUtterance]:
    """One augmented copy of each of a seeded ``fraction`` of ``candidates``, its effect
    drawn from speed 0.9, speed 1.1, noise and reverb."""
    chosen = split_ids([u.utt_id for u in candidates],
                       {"augment": fraction, "keep": 1 - fraction}, seed)["augment"]
    by_id = {u.utt_id: u for u in candidates}
    copies = []
    for utt_id in chosen:
        base = by_id[utt_id]
        rng = random.Random(f"{seed}:augment:{utt_id}")
        kind = rng.choice(AUGMENTATION_KINDS)
        if kind == "speed":
            factor = SPEED_FACTORS[rng.randrange(len(SPEED_FACTORS))]
            name, effect = f"speed{factor}", f"speed {factor}"
        elif kind == "noise":
            name, effect = "noise", f"noise {snr_db:g} {rng.randrange(MAX_NOISE_OFFSET)}"
        else:
            name, effect = "reverb", f"reverb {REVERBERANCE}"
        copies.append(
            StudyUtterance(f"aug/{name}/{utt_id}", base.text, AUGMENTED, voice=base.voice,
                           language=base.language, speaker=base.speaker, role=TRAIN,
                           text_source=base.text_source, effect=effect, base=utt_id)
        )
    return copies


def build_plan(options: StudyOptions) -> list[StudyUtterance]:
    """Every utterance of the corpus (see the module docstring), sorted by id."""
    english = english_real_recordings(options.seed)
    text_roles = {u.text: u.role for u in english}
    other = [u for lang in options.languages for u in asterisk_language_prompts(lang)]
    chosen = limit_per_set(english + other, options.real_limit, options.seed)
    real = [piece for recording in chosen for piece in pieces_of(recording)]
    synthetic = synthetic_plan(options.hours_synthetic, options.seed, text_roles)
    train = [u for u in real + synthetic if u.role == TRAIN]
    augmented = augmentation_plan(train, options.augment_fraction, options.noise_snr_db,
                                  options.seed)
    return sorted(real + synthetic + augmented, key=lambda u: u.utt_id)


# --- plan file -----------------------------------------------------------------------------


def _options_json(options: StudyOptions) -> str:
    return json.dumps({"options": asdict(options)}, sort_keys=True)


def _utterance_json(utterance: StudyUtterance) -> str:
    values = {f.name: getattr(utterance, f.name) for f in fields(StudyUtterance)}
    values["source"] = None if utterance.source is None else str(utterance.source)
    return json.dumps(values, ensure_ascii=False)


def write_plan(path: Path, options: StudyOptions, plan: Sequence[StudyUtterance]) -> None:
    write_lines_atomically(path, [_options_json(options), *map(_utterance_json, plan)])


def _parse_options(line: str) -> StudyOptions:
    values = json.loads(line)["options"]
    return StudyOptions(**{**values, "languages": tuple(values["languages"])})


def read_plan_options(path: Path) -> StudyOptions:
    with open(path, encoding="utf-8") as lines:
        return _parse_options(next(lines))


def read_plan(path: Path) -> tuple[StudyOptions, list[StudyUtterance]]:
    """The options and utterances of a plan file (line 1 the options, then one per line)."""
    with open(path, encoding="utf-8") as lines:
        options = _parse_options(next(lines))
        plan = []
        for line in lines:
            values = json.loads(line)
            source = values.pop("source")
            plan.append(StudyUtterance(source=None if source is None else Path(source), **values))
    return options, plan


# --- audio ---------------------------------------------------------------------------------


def _power(audio: np.ndarray) -> float:
    return float(np.mean(np.square(audio, dtype=np.float64))) if len(audio) else 0.0


def _sox(*args: str) -> None:
    subprocess.run([SOX, *SOX_QUIET, *args], check=True, capture_output=True)


def augment(base: Path, target: Path, effect: str) -> int:
    """Write a sox-augmented 16 kHz copy of ``base`` (``effect`` as in StudyUtterance);
    returns its length in samples.  Noise is white noise, scaled so that the power ratio
    of the whole utterance to it is the SNR, starting ``OFFSET`` samples into sox's
    repeatable noise so copies differ."""
    kind, *values = effect.split()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".wav")
    os.close(fd)
    try:
        if kind == "noise":
            snr_db, offset = float(values[0]), int(values[1])
            with tempfile.TemporaryDirectory() as tmp:
                noise = str(Path(tmp) / "noise.wav")
                length = num_samples(base)
                _sox(*SOX_FORMAT, "-n", *SOX_FORMAT, noise,
                     "synth", f"{length + offset}s", "whitenoise", "trim", f"{offset}s")
                signal, _ = sf.read(str(base), dtype="float32")
                noise_audio, _ = sf.read(noise, dtype="float32")
                ratio = 10 ** (snr_db / DECIBELS_PER_POWER_DECADE)
                gain = np.sqrt(_power(signal) / (_power(noise_audio) * ratio))
                _sox("-m", "-v", "1", str(base), "-v", f"{gain:.6g}", noise, *SOX_FORMAT, partial)
        elif kind == "speed":
            _sox(str(base), *SOX_FORMAT, partial, "speed", values[0],
                 "rate", str(TARGET_SAMPLE_RATE))
        elif kind == "reverb":
            _sox(str(base), *SOX_FORMAT, partial, "reverb", *values)
        else:
            raise ValueError(f"unknown augmentation {effect!r}")
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return num_samples(target)


def convert_piece(source: Path, target: Path, start: int, stop: int) -> int:
    """Write samples [start, stop) of ``source`` at 16 kHz as a wav; returns its length."""
    piece = load_mono_16k(source)[start:stop]
    write_wav16(target, piece)
    return len(piece)


def _run_jobs(what: str, function: Callable[..., int], jobs: Sequence[tuple]) -> None:
    """``function(*job)`` for every job on ``WORKERS`` processes, with progress lines."""
    if not jobs:
        return
    with ProcessPoolExecutor(WORKERS) as pool:
        for done, _ in enumerate(pool.map(function, *zip(*jobs)), start=1):
            if done % PROGRESS_EVERY == 0 or done == len(jobs):
                print(f"  {what}: made {done}/{len(jobs)}")


def produce_pieces(pieces: Sequence[StudyUtterance], audio_root: Path) -> int:
    """Make the pieces of long recordings that are missing or older than their recording;
    returns how many were made."""
    todo = [(u.source, audio_root / u.rel_path, u.start, u.stop) for u in pieces
            if not is_up_to_date(u.source, audio_root / u.rel_path)]
    print(f"pieces: {len(pieces) - len(todo)} up to date, {len(todo)} to make")
    _run_jobs("pieces", convert_piece, todo)
    return len(todo)


def produce_augmented(copies: Sequence[StudyUtterance], audio_root: Path) -> int:
    """Make the augmented copies that are missing or older than their base; returns how
    many were made."""
    todo = []
    for copy in copies:
        base, target = audio_root / f"{copy.base}.wav", audio_root / copy.rel_path
        if not base.exists():
            raise FileNotFoundError(f"{base} missing: run stages 2 and 3 first")
        if not is_up_to_date(base, target):
            todo.append((base, target, copy.effect))
    print(f"augmentation: {len(copies) - len(todo)} copies up to date, {len(todo)} to make")
    _run_jobs("augmentation", augment, todo)
    return len(todo)


def audio_lengths(plan: Sequence[StudyUtterance], audio_root: Path) -> dict[str, int]:
    """Length in samples of every planned file, read from the wav headers."""
    missing = [u.rel_path for u in plan if not (audio_root / u.rel_path).exists()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} planned wavs missing (e.g. {missing[0]}): run stages 2-4 first"
        )
    return {u.utt_id: num_samples(audio_root / u.rel_path) for u in plan}


# --- splits --------------------------------------------------------------------------------


def _seconds(members: Iterable[StudyUtterance], lengths: dict[str, int]) -> float:
    return sum(lengths[u.utt_id] for u in members) / TARGET_SAMPLE_RATE


def _first_seconds(ordered: Sequence[StudyUtterance], lengths: dict[str, int], seconds: float
                   ) -> list[StudyUtterance]:
    """The shortest prefix of ``ordered`` that lasts ``seconds`` (all of it if shorter)."""
    taken, total = [], 0.0
    for utterance in ordered:
        if total >= seconds:
            break
        taken.append(utterance)
        total += lengths[utterance.utt_id] / TARGET_SAMPLE_RATE
    return taken


def _seeded_order(members: Iterable[StudyUtterance], seed: int, name: str
                  ) -> list[StudyUtterance]:
    ordered = sorted(members, key=lambda u: u.utt_id)
    random.Random(f"{seed}:{name}").shuffle(ordered)
    return ordered


def labelled_sets(pool: Sequence[StudyUtterance], lengths: dict[str, int], seed: int
                  ) -> dict[str, list[StudyUtterance]]:
    """``LABELLED_SETS`` drawn from ``pool`` (English, not augmented): real speech first, up
    to ``REAL_LABELLED_SHARE`` of the length, then synthetic speech.  Every set takes a
    prefix of the same seeded orders, so a smaller set is part of a larger one."""
    real = _seeded_order((u for u in pool if u.origin == REAL), seed, "labelled-real")
    synthetic = _seeded_order((u for u in pool if u.origin == SYNTHETIC), seed,
                              "labelled-synthetic")
    sets = {}
    for name, seconds in LABELLED_SETS.items():
        chosen_real = _first_seconds(real, lengths, REAL_LABELLED_SHARE * seconds)
        rest = seconds - _seconds(chosen_real, lengths)
        chosen = chosen_real + _first_seconds(synthetic, lengths, rest)
        sets[name] = sorted(chosen, key=lambda u: u.utt_id)
    return sets


def assign_splits(plan: Sequence[StudyUtterance], lengths: dict[str, int], seed: int
                  ) -> dict[str, list[StudyUtterance]]:
    """Every manifest's utterances, sorted by id (see the module docstring).

    Utterances outside ``MIN_SECONDS``-``MAX_SECONDS`` are dropped, and so is an augmented
    copy whose base is dropped.
    """
    low, high = MIN_SECONDS * TARGET_SAMPLE_RATE, MAX_SECONDS * TARGET_SAMPLE_RATE
    in_range = {u.utt_id for u in plan if low <= lengths[u.utt_id] <= high}
    kept = [u for u in plan if u.utt_id in in_range and (not u.base or u.base in in_range)]
    train = [u for u in kept if u.role == TRAIN]
    valid = [u for u in kept if u.role == VALID]
    test_synth = [u for u in kept if u.role == TEST and u.origin == SYNTHETIC]
    test_real = [u for u in kept if u.role == TEST and u.origin == REAL]
    labelled_pool = [u for u in train
                     if u.language == ENGLISH and u.origin != AUGMENTED and not u.is_piece]
    splits = {PRETRAIN_TRAIN: train, PRETRAIN_VALID: valid}
    held_out = {VALID: valid, "test_synth": test_synth, "test_real": test_real}
    for folder, members in labelled_sets(labelled_pool, lengths, seed).items():
        splits.update({f"{folder}/{name}": held_out.get(name, members)
                       for name in LABELLED_SPLITS})
    return splits


def aligned_splits(splits: dict[str, list[StudyUtterance]]) -> list[str]:
    """The splits that get a ``.phn`` file: pretrain valid and every labelled split."""
    return [name for name in splits if name != PRETRAIN_TRAIN]


def _labelled_folders(splits: dict[str, list[StudyUtterance]]) -> list[str]:
    return sorted({name.split("/")[0] for name in splits if name.startswith("finetune_")})


def write_split_files(splits: dict[str, list[StudyUtterance]], lengths: dict[str, int],
                      audio_root: Path, manifests: Path) -> None:
    """Manifests, labels and ``.phn`` files of every split; one letter dictionary per
    labelled folder, all the same (see the module docstring)."""
    for name, members in splits.items():
        prefix = manifests / name
        entries = [(u.rel_path, lengths[u.utt_id]) for u in members]
        write_manifest(f"{prefix}{MANIFEST_SUFFIX}", audio_root, entries)
        if name.startswith("finetune_"):
            write_labels(prefix, [u.text for u in members], normalize=False)
        if name in aligned_splits(splits):
            write_split_alignments(f"{prefix}{ALIGNMENT_SUFFIX}", members, audio_root)
    labelled_letters = {
        letter
        for name, members in splits.items() if name.startswith("finetune_")
        for u in members
        for letter in words_to_letters(u.text).split()
    }
    for folder in _labelled_folders(splits):
        write_letter_dictionary(manifests / folder / "dict.ltr.txt",
                                [manifests / f"{DICTIONARY_SOURCE}.ltr"], labelled_letters)


# --- summary -------------------------------------------------------------------------------


def summarize(splits: dict[str, list[StudyUtterance]], lengths: dict[str, int],
              audio_root: Path) -> dict[str, dict]:
    """Per split: utterances and hours in all and per origin (real, synthetic, augmented),
    real speakers, espeak-ng voices, languages, and for ``.phn`` splits how many are aligned."""
    summary = {}
    for name, members in splits.items():
        row: dict = {
            "utterances": len(members),
            "hours": _seconds(members, lengths) / SECONDS_PER_HOUR,
        }
        for origin in (REAL, SYNTHETIC, AUGMENTED):
            of_origin = [u for u in members if u.origin == origin]
            row[origin] = {"utterances": len(of_origin),
                           "hours": _seconds(of_origin, lengths) / SECONDS_PER_HOUR}
        row["speakers"] = len({u.speaker for u in members if not u.voice})
        row["voices"] = len({u.voice for u in members if u.voice})
        row["languages"] = sorted({u.language for u in members})
        if name in aligned_splits(splits):
            row["aligned"] = sum(
                read_sidecar(audio_root / u.rel_path) is not None for u in members
            )
        summary[name] = row
    return summary


def format_table(summary: dict[str, dict]) -> str:
    header = (f"{'split':<28}{'utts':>7}{'hours':>8}{'real h':>8}{'synth h':>8}{'aug h':>8}"
              f"{'speakers':>9}{'voices':>7}{'aligned':>8}  languages")
    rows = [header]
    for name, row in summary.items():
        aligned = row.get("aligned", "-")
        rows.append(
            f"{name:<28}{row['utterances']:>7}{row['hours']:>8.3f}{row[REAL]['hours']:>8.3f}"
            f"{row[SYNTHETIC]['hours']:>8.3f}{row[AUGMENTED]['hours']:>8.3f}"
            f"{row['speakers']:>9}{row['voices']:>7}{aligned:>8}  {','.join(row['languages'])}"
        )
    return "\n".join(rows)


# --- stages --------------------------------------------------------------------------------


@dataclass
class Build:
    """One run over the stages: where it writes and the plan it follows."""

    out: Path
    options: StudyOptions
    plan: list[StudyUtterance] = field(default_factory=list)

    @property
    def audio_root(self) -> Path:
        return (self.out / "audio").resolve()

    @property
    def manifests(self) -> Path:
        return self.out / "manifests"

    @property
    def plan_path(self) -> Path:
        return self.out / PLAN_FILE

    def of_origin(self, origin: str) -> list[StudyUtterance]:
        return [u for u in self.plan if u.origin == origin]

    def splits(self) -> tuple[dict[str, list[StudyUtterance]], dict[str, int]]:
        lengths = audio_lengths(self.plan, self.audio_root)
        return assign_splits(self.plan, lengths, self.options.seed), lengths


def stage_check(build: Build) -> int:
    """Report missing sources and tools (warnings: the build goes on without them)."""
    checks = [
        (ASTERISK_SOUNDS, ("asterisk-core-sounds-en-wav", "asterisk-core-sounds-en")),
        (POCKETSPHINX_DATA, (POCKETSPHINX_PACKAGE,)),
        (FORTUNES, FORTUNE_PACKAGES),
        *((ASTERISK_ROOT / ASTERISK_FOLDERS[lang],
           (f"asterisk-core-sounds-{lang}-wav", f"asterisk-core-sounds-{lang}"))
          for lang in build.options.languages),
    ]
    missing = 0
    for path, packages in checks:
        if not path.exists():
            _warn_missing(path, packages)
            missing += 1
    for tool, package in ((SOX, "sox"), ("espeak-ng", "espeak-ng")):
        if shutil.which(tool) is None:
            print(f"warning: {tool} not found (apt-get install -y {package})")
            missing += 1
    if importlib.util.find_spec("pocketsphinx") is None:
        print("warning: no PocketSphinx for stage 5 (pip install 'pocketsphinx>=5')")
        missing += 1
    print(f"{missing} sources or tools missing")
    return 0


def stage_plan(build: Build) -> int:
    if build.plan_path.exists():
        if read_plan_options(build.plan_path) == build.options:
            print(f"{build.plan_path} up to date")
            return 0
        print(f"{build.plan_path} was made with other options: planning again")
    build.plan = build_plan(build.options)
    write_plan(build.plan_path, build.options, build.plan)
    counts = Counter((u.origin, u.text_source) for u in build.plan)
    for (origin, source), count in sorted(counts.items()):
        print(f"  {origin:<10} {source:<22} {count:>6}")
    synthetic = build.of_origin(SYNTHETIC)
    planned = sum(estimated_seconds(u.text, u.speed) for u in synthetic) / SECONDS_PER_HOUR
    print(f"planned {len(build.plan)} utterances, synthetic ~{planned:.2f} h: {build.plan_path}")
    return len(build.plan)


def stage_real_audio(build: Build) -> int:
    real = build.of_origin(REAL)
    whole = [u for u in real if not u.is_piece]
    todo = sum(not is_up_to_date(u.source, build.audio_root / u.rel_path) for u in whole)
    produce_audio(whole, build.audio_root)
    return todo + produce_pieces([u for u in real if u.is_piece], build.audio_root)


def stage_synthetic_audio(build: Build) -> int:
    synthetic = build.of_origin(SYNTHETIC)
    todo = sum(
        not (build.audio_root / u.rel_path).exists()
        or not alignment_sidecar(build.audio_root / u.rel_path).exists()
        for u in synthetic
    )
    produce_audio(synthetic, build.audio_root)
    return todo


def stage_augmentation(build: Build) -> int:
    return produce_augmented(build.of_origin(AUGMENTED), build.audio_root)


def stage_alignment(build: Build) -> int:
    splits, _ = build.splits()
    real = {u.utt_id: u for name in aligned_splits(splits) for u in splits[name]
            if u.origin == REAL}
    todo = [u for _, u in sorted(real.items())]
    stale = sum(not is_up_to_date(build.audio_root / u.rel_path,
                                  alignment_sidecar(build.audio_root / u.rel_path))
                for u in todo)
    align_real_speech(todo, build.audio_root)
    return stale


def stage_manifests(build: Build) -> int:
    splits, lengths = build.splits()
    for name in aligned_splits(splits):
        for utterance in splits[name]:
            if not alignment_sidecar(build.audio_root / utterance.rel_path).exists():
                raise FileNotFoundError(f"{utterance.rel_path} has no alignment: run stage 5")
    write_split_files(splits, lengths, build.audio_root, build.manifests)
    summary = summarize(splits, lengths, build.audio_root)
    write_lines_atomically(build.out / SUMMARY_FILE, [json.dumps(summary, indent=2)])
    print(format_table(summary))
    return len(splits)


STAGES: tuple[Callable[[Build], int], ...] = (
    stage_check, stage_plan, stage_real_audio, stage_synthetic_audio, stage_augmentation,
    stage_alignment, stage_manifests,
)


def build_study_corpus(out: Path, options: StudyOptions = StudyOptions(), stage: int = 0,
                       stop_stage: int = LAST_STAGE) -> dict[int, int]:
    """Run stages ``stage``..``stop_stage`` into ``out``; returns, per stage run, how many
    items it made (plan entries, wavs, alignments; 0 when everything was up to date).

    Stages after the plan follow ``out/plan.jsonl``; they raise ValueError when it was
    made with other options, unless the plan stage runs in the same call.
    """
    if not 0 <= stage <= stop_stage <= LAST_STAGE:
        raise ValueError(f"need 0 <= stage <= stop-stage <= {LAST_STAGE}: {stage}, {stop_stage}")
    build = Build(Path(out), options)
    work = {}
    for number in range(stage, stop_stage + 1):
        if number >= 2 and not build.plan:
            build.plan = _load_plan(build)
        started = time.monotonic()
        print(f"== stage {number}: {STAGE_NAMES[number]} ==")
        work[number] = STAGES[number](build)
        print(f"   stage {number} done in {time.monotonic() - started:.1f} s")
    return work


def _load_plan(build: Build) -> list[StudyUtterance]:
    if not build.plan_path.exists():
        raise FileNotFoundError(f"{build.plan_path} missing: run stage 1 first")
    options, plan = read_plan(build.plan_path)
    if options != build.options:
        raise ValueError(f"{build.plan_path} was made with {options}, not {build.options}: "
                         "rerun from stage 1 (--stage 1) or give the plan's options")
    return plan


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = tool_parser("birq_fairseq.data.study_corpus", __doc__)
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for audio/, manifests/, plan.jsonl and summary.json")
    stages = ", ".join(f"{number} {name}" for number, name in enumerate(STAGE_NAMES))
    parser.add_argument("--stage", type=int, default=0, choices=range(LAST_STAGE + 1),
                        metavar="N", help=f"first stage to run: {stages} (default %(default)s)")
    parser.add_argument("--stop-stage", type=int, default=LAST_STAGE,
                        choices=range(LAST_STAGE + 1), metavar="N",
                        help="last stage to run (default %(default)s)")
    parser.add_argument("--hours-synthetic", type=float, default=DEFAULT_HOURS_SYNTHETIC,
                        metavar="H", help="planned hours of espeak-ng speech, valid and test "
                        "included (default %(default)s)")
    parser.add_argument("--real-limit", type=int, metavar="N",
                        help="use only this many recordings of each real recording set "
                        "(default: all)")
    parser.add_argument("--languages", nargs="*", default=list(DEFAULT_LANGUAGES),
                        choices=sorted(ASTERISK_FOLDERS), metavar="LANG",
                        help="Asterisk prompt sets of other languages to add as unlabelled "
                        f"speech, none when given without a value (default: "
                        f"{' '.join(DEFAULT_LANGUAGES)})")
    parser.add_argument("--augment-fraction", type=float, default=DEFAULT_AUGMENT_FRACTION,
                        metavar="F", help="share of pretraining utterances that get one "
                        "augmented copy (default %(default)s)")
    parser.add_argument("--noise-snr", type=float, default=DEFAULT_NOISE_SNR_DB, metavar="DB",
                        help="signal-to-noise ratio in dB of the noise copies "
                        "(default %(default)s)")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed of texts, voices, splits and augmentations "
                        "(default %(default)s)")
    args = parser.parse_args(None if argv is None else list(argv))
    if not 0 <= args.augment_fraction <= 1:
        parser.error("--augment-fraction must be between 0 and 1")
    if args.stage > args.stop_stage:
        parser.error("--stage must not come after --stop-stage")
    return args


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    options = StudyOptions(
        hours_synthetic=args.hours_synthetic,
        real_limit=args.real_limit,
        languages=tuple(args.languages),
        augment_fraction=args.augment_fraction,
        noise_snr_db=args.noise_snr,
        seed=args.seed,
    )
    started = time.monotonic()
    try:
        build_study_corpus(args.out, options, args.stage, args.stop_stage)
    except (FileNotFoundError, ValueError) as error:  # a stage run out of order, other options
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"study corpus stages {args.stage}-{args.stop_stage} done in "
          f"{time.monotonic() - started:.1f} s: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
