"""Properties of the manifest parser behind the load-time check: any valid manifest parses to
exactly what was written, and any single corrupted line is reported at its own line number,
never as a crash or as a problem elsewhere."""

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from birq_fairseq.data.manifest_checks import ManifestLine, parse_manifest

# Paths as corpora name them, spaces and non-ASCII letters included; fairseq strips each line,
# so a path cannot start or end with whitespace.
PATH_CHARS = st.sampled_from(list("abcXYZ019_-./ éü中"))
rel_paths = st.text(PATH_CHARS, min_size=1, max_size=24).filter(lambda p: p == p.strip())
root_names = st.text(st.sampled_from(list("ab_- é")), min_size=1, max_size=12).filter(
    lambda n: n == n.strip()
)
entries = st.lists(st.tuples(rel_paths, st.integers(1, 10**12)), max_size=20)
newlines = st.sampled_from(["\n", "\r\n"])
# Sizes fairseq's int() might even accept but the check must flag: not plain positive integers.
bad_sizes = st.one_of(
    st.sampled_from(["0", "00", "-1", "-16000", "1.5", "1e4", "+5", "1_000", "abc", "٣"]),
    st.text(min_size=1, max_size=8).filter(
        lambda s: (
            s == s.strip()
            and not any(c in s for c in "\t\n\r")
            and not (s.isascii() and s.isdigit() and int(s) > 0)
        )
    ),
)


def corrupt(kind: str, path: str, bad_size: str) -> str:
    """One bad line of the given kind (built from a valid ``path``)."""
    return {
        "extra tab": f"{path}\t16000\textra",
        "missing size": path,
        "missing size after a tab": f"{path}\t",
        "non-integer size": f"{path}\t{bad_size}",
        "zero size": f"{path}\t0",
        "negative size": f"{path}\t-{len(path)}",
        "blank line": "",
    }[kind]


EXPECTED_KIND = {
    "extra tab": "columns",
    "missing size": "columns",
    "missing size after a tab": "columns",
    "non-integer size": "size",
    "zero size": "size",
    "negative size": "size",
    "blank line": "blank-line",
}


def write(folder: Path, root: str, lines: list[str], newline: str, final_newline: bool) -> Path:
    manifest = folder / "train.tsv"
    text = newline.join([root, *lines]) + (newline if final_newline else "")
    manifest.write_bytes(text.encode("utf-8"))
    return manifest


@settings(max_examples=200, deadline=None)
@given(root_names, entries, newlines, st.booleans())
def test_valid_manifests_parse_to_what_was_written(root_name, written, newline, final_newline):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / root_name
        root.mkdir()
        lines = [f"{path}\t{size}" for path, size in written]
        manifest = write(Path(folder), str(root), lines, newline, final_newline)

        parsed = parse_manifest(manifest)

    assert parsed.problems == []
    assert parsed.root == str(root)
    assert parsed.num_lines == len(written)
    assert parsed.entries == [
        ManifestLine(line, path, size) for line, (path, size) in enumerate(written, start=2)
    ]


@settings(max_examples=300, deadline=None)
@given(
    entries.filter(bool),
    st.data(),
    st.sampled_from(sorted(EXPECTED_KIND)),
    bad_sizes,
    newlines,
)
def test_a_corrupted_line_is_reported_at_its_line(written, data, kind, bad_size, newline):
    index = data.draw(st.integers(0, len(written) - 1), label="corrupted entry")
    lines = [f"{path}\t{size}" for path, size in written]
    lines[index] = corrupt(kind, written[index][0], bad_size)
    with tempfile.TemporaryDirectory() as folder:
        manifest = write(Path(folder), folder, lines, newline, final_newline=True)

        parsed = parse_manifest(manifest)

    line = index + 2  # 1-based, after the header
    assert [(p.line, p.kind) for p in parsed.problems] == [(line, EXPECTED_KIND[kind])]
    assert all(p.path == str(manifest) and p.message and p.fix for p in parsed.problems)
    assert [entry.line for entry in parsed.entries] == [
        n for n in range(2, len(written) + 2) if n != line
    ]
    assert parsed.num_lines == len(written)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.lists(st.text(max_size=30), max_size=10)))
def test_any_file_parses_without_crashing(content):
    with tempfile.TemporaryDirectory() as folder:
        manifest = Path(folder) / "train.tsv"
        if isinstance(content, bytes):
            manifest.write_bytes(content)
        else:
            manifest.write_text("\n".join(content), encoding="utf-8")

        parsed = parse_manifest(manifest)

    assert all(1 <= p.line <= parsed.num_lines + 1 for p in parsed.problems)
    # Every line after the header is either an entry or exactly one problem.
    entry_problems = [p for p in parsed.problems if p.line > 1]
    assert len(parsed.entries) + len(entry_problems) == parsed.num_lines
    assert all(entry.num_samples > 0 for entry in parsed.entries)
