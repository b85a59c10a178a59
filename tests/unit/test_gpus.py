"""GPU name -> compute capability: real nvidia-smi names, messy spellings, ambiguity, bad data.

The expected CCs below are written by hand from NVIDIA's lists (see data/gpus.yaml sources),
not read back from the table under test.
"""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
import yaml

import labtorch.gpus
from labtorch.errors import DataError, LabtorchError
from labtorch.gpus import all_gpus, architecture_of, default_table, load_table, lookup

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "nvidia-smi"

# Every GPU name printed in ../shared/fixtures/nvidia-smi (expected.yaml gpus[].name).
FIXTURE_NAMES = {
    "A100-SXM4-40GB": "8.0",
    "GRID K520": "3.0",
    "GeForce 8800 GT": "1.1",
    "GeForce GTX 1070 Ti": "6.1",
    "GeForce GTX 108...": "6.1",  # cut: GTX 1080 or 1080 Ti, both 6.1
    "GeForce GTX 780": "3.5",
    "GeForce RTX 207...": "7.5",
    "GeForce RTX 2070": "7.5",
    "NVIDIA A10": "8.6",
    "NVIDIA A100-SXM4-40GB": "8.0",
    "NVIDIA A100-SXM4-80GB": "8.0",
    "NVIDIA A10G": "8.6",
    "NVIDIA A40": "8.6",
    "NVIDIA GeForce GTX 1080 Ti": "6.1",
    "NVIDIA GeForce RTX 2060 ...": "7.5",
    "NVIDIA GeForce RTX 2070": "7.5",
    "NVIDIA GeForce RTX 2080": "7.5",
    "NVIDIA GeForce RTX 2080 ...": "7.5",
    "NVIDIA GeForce RTX 2080 SUPER": "7.5",
    "NVIDIA GeForce RTX 3060": "8.6",
    "NVIDIA GeForce RTX 3060 Laptop GPU": "8.6",
    "NVIDIA GeForce RTX 3070": "8.6",
    "NVIDIA GeForce RTX 3080": "8.6",
    "NVIDIA GeForce RTX 3090": "8.6",
    "NVIDIA GeForce RTX 4060 Ti": "8.9",
    "NVIDIA GeForce RTX 4080 ...": "8.9",
    "NVIDIA GeForce RTX 4080 SUPER": "8.9",
    "NVIDIA GeForce RTX 4090": "8.9",
    "NVIDIA H100 80GB HBM3": "9.0",
    "NVIDIA H100 NVL": "9.0",
    "NVIDIA H200": "9.0",
    "NVIDIA L4": "8.9",
    "NVIDIA L40S": "8.9",
    "NVIDIA RTX 2000 Ada Gene...": "8.9",
    "NVIDIA RTX 2000 Ada Generation": "8.9",
    "NVIDIA RTX 4000 Ada Gene...": "8.9",
    "NVIDIA RTX 4000 Ada Generation": "8.9",
    "NVIDIA RTX 4000 SFF Ada Generation": "8.9",
    "NVIDIA RTX A5000": "8.6",
    "NVIDIA RTX A6000": "8.6",
    "Quadro K3100M": "3.0",
    "Quadro P2000": "6.1",
    "Quadro P400": "6.1",
    "TITAN Xp": "6.1",
    "Tesla K20m": "3.5",
    "Tesla K80": "3.7",
    "Tesla P100-PCIE-16GB": "6.0",
    "Tesla T4": "7.5",
}
# Fixture names that cannot have one CC: the placeholder of a too-old driver, and a name cut
# right after "GeForce".
FIXTURE_NAMES_WITHOUT_CC = {"Graphics Device": "unknown", "NVIDIA GeForce ...": "ambiguous"}


def test_the_test_table_lists_every_gpu_name_in_the_shared_fixtures() -> None:
    expected = yaml.safe_load((FIXTURES / "expected.yaml").read_text(encoding="utf-8"))
    printed = {gpu["name"] for facts in expected.values() for gpu in facts["gpus"] if gpu["name"]}
    assert printed == set(FIXTURE_NAMES) | set(FIXTURE_NAMES_WITHOUT_CC)


@pytest.mark.parametrize(("name", "cc"), sorted(FIXTURE_NAMES.items()))
def test_fixture_names_match_exactly_to_their_compute_capability(name: str, cc: str) -> None:
    match = lookup(name)
    assert (match.status, match.compute_capability) == ("exact", cc), match.message
    assert cc in match.message


@pytest.mark.parametrize(("name", "status"), sorted(FIXTURE_NAMES_WITHOUT_CC.items()))
def test_fixture_names_without_one_cc_say_so(name: str, status: str) -> None:
    match = lookup(name)
    assert (match.status, match.compute_capability) == (status, None)
    assert "--compute-capability" in match.message


MESSY_NAMES = [
    # vendor prefixes, memory and form-factor suffixes
    ("Tesla V100-SXM2-16GB", "7.0", "Tesla V100"),
    ("Tesla V100-PCIE-32GB", "7.0", "Tesla V100"),
    ("Tesla V100S-PCIE-32GB", "7.0", "Tesla V100S"),
    ("Tesla V100-DGXS-32GB", "7.0", "Tesla V100"),
    ("V100", "7.0", "Tesla V100"),
    ("NVIDIA A100-PCIE-40GB", "8.0", "NVIDIA A100"),
    ("NVIDIA A100 80GB PCIe", "8.0", "NVIDIA A100"),
    ("NVIDIA A800-SXM4-80GB", "8.0", "NVIDIA A800"),
    ("NVIDIA H100 PCIe", "9.0", "NVIDIA H100"),
    ("NVIDIA H800", "9.0", "NVIDIA H800"),
    ("NVIDIA H20", "9.0", "NVIDIA H20"),
    ("NVIDIA GH200 480GB", "9.0", "NVIDIA GH200"),
    ("NVIDIA H200 NVL", "9.0", "NVIDIA H200"),
    ("NVIDIA L20", "8.9", "NVIDIA L20"),
    ("NVIDIA L40", "8.9", "NVIDIA L40"),
    ("NVIDIA A16", "8.6", "NVIDIA A16"),
    ("NVIDIA A2", "8.6", "NVIDIA A2"),
    ("NVIDIA A30", "8.0", "NVIDIA A30"),
    ("NVIDIA B200", "10.0", "NVIDIA B200"),
    ("NVIDIA GB200", "10.0", "NVIDIA GB200"),
    ("NVIDIA GB10", "12.1", "NVIDIA GB10"),
    ("NVIDIA T4", "7.5", "Tesla T4"),
    ("NVIDIA T1000 8GB", "7.5", "Quadro T1000"),
    ("Tesla K40m", "3.5", "Tesla K40"),
    ("Tesla K20Xm", "3.5", "Tesla K20X"),
    ("RTX 3080 12gb", "8.6", "GeForce RTX 3080"),
    ("NVIDIA GeForce RTX 3080 12 GB", "8.6", "GeForce RTX 3080"),
    ("GeForce GTX 1060 6GB", "6.1", "GeForce GTX 1060"),
    ("NVIDIA RTX A2000 12GB", "8.6", "RTX A2000"),
    ("NVIDIA GeForce RTX 3060 Ti GDDR6X", "8.6", "GeForce RTX 3060 Ti"),
    ("NVIDIA GeForce RTX 3050 OEM", "8.6", "GeForce RTX 3050"),
    ("NVIDIA GH200 144G HBM3e", "9.0", "NVIDIA GH200"),
    ("NVIDIA TITAN Xp COLLECTORS EDITION", "6.1", "TITAN Xp"),
    # vGPU guests print the profile after the GPU
    ("NVIDIA A10-24Q", "8.6", "NVIDIA A10"),
    ("GRID T4-16C", "7.5", "Tesla T4"),
    ("NVIDIA A100-40C", "8.0", "NVIDIA A100"),
    # spacing, case, Ti/SUPER spelling
    ("GTX 1050Ti", "6.1", "GeForce GTX 1050 Ti"),
    ("GeForce GTX 1050 Ti", "6.1", "GeForce GTX 1050 Ti"),
    ("RTX 5070Ti", "12.0", "GeForce RTX 5070 Ti"),
    ("5070Ti", "12.0", "GeForce RTX 5070 Ti"),
    ("nvidia geforce rtx 4070 ti super", "8.9", "GeForce RTX 4070 Ti SUPER"),
    ("NVIDIA GeForce RTX 2080 Super", "7.5", "GeForce RTX 2080 SUPER"),
    ("  NVIDIA   GeForce  RTX 4090  ", "8.9", "GeForce RTX 4090"),
    ("NVIDIA(R) GeForce(R) RTX 4090", "8.9", "GeForce RTX 4090"),
    # laptop, Max-Q, mobile
    ("NVIDIA GeForce RTX 4050 Laptop GPU", "8.9", "GeForce RTX 4050"),
    ("NVIDIA GeForce RTX 5090 Laptop GPU", "12.0", "GeForce RTX 5090"),
    ("NVIDIA GeForce RTX 3050 Ti Laptop GPU", "8.6", "GeForce RTX 3050 Ti"),
    ("NVIDIA GeForce RTX 2060 with Max-Q Design", "7.5", "GeForce RTX 2060"),
    ("GeForce GTX 1050 Ti with Max-Q Design", "6.1", "GeForce GTX 1050 Ti"),
    ("GeForce RTX 2080 Max-Q", "7.5", "GeForce RTX 2080"),
    ("NVIDIA GeForce GTX 1650 Mobile", "7.5", "GeForce GTX 1650"),
    ("NVIDIA GeForce RTX 2050", "8.6", "GeForce RTX 2050"),
    ("NVIDIA GeForce RTX 3050 A Laptop GPU", "8.9", "GeForce RTX 3050 A"),
    ("NVIDIA GeForce MX130", "5.0", "GeForce MX130"),
    ("NVIDIA GeForce MX450", "7.5", "GeForce MX450"),
    ("NVIDIA GeForce MX150", "6.1", "GeForce MX150"),
    ("GeForce GTX 980M", "5.2", "GeForce GTX 980M"),
    ("Quadro RTX 5000 with Max-Q Design", "7.5", "Quadro RTX 5000"),
    ("NVIDIA RTX A5000 Laptop GPU", "8.6", "RTX A5000"),
    ("NVIDIA RTX A500 Laptop GPU", "8.6", "RTX A500"),
    ("NVIDIA RTX 2000 Ada Generation Laptop GPU", "8.9", "RTX 2000 Ada Generation"),
    ("NVIDIA RTX 500 Ada Generation Laptop GPU", "8.9", "RTX 500 Ada Generation"),
    # the RTX 6000 / 5000 family: the brand or generation words decide
    ("Quadro RTX 6000", "7.5", "Quadro RTX 6000"),
    ("Quadro RTX 5000", "7.5", "Quadro RTX 5000"),
    ("NVIDIA RTX 6000 Ada Generation", "8.9", "RTX 6000 Ada Generation"),
    ("RTX 6000 Ada", "8.9", "RTX 6000 Ada Generation"),
    ("NVIDIA RTX 5000 Ada Generation", "8.9", "RTX 5000 Ada Generation"),
    ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "12.0", "RTX PRO 6000 Blackwell"),
    ("NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition", "12.0", "RTX PRO 6000 Blackwell"),
    ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "12.0", "RTX PRO 6000 Blackwell"),
    ("NVIDIA RTX PRO 6000 Blackwell ...", "12.0", "RTX PRO 6000 Blackwell"),
    ("NVIDIA RTX PRO 4000 Blackwell SFF Edition", "12.0", "RTX PRO 4000 Blackwell SFF"),
    ("NVIDIA GeForce RTX 5090", "12.0", "GeForce RTX 5090"),
    ("NVIDIA GeForce RTX 5000 Ada", "8.9", "RTX 5000 Ada Generation"),
    # TITANs
    ("GeForce GTX TITAN X", "5.2", "GeForce GTX TITAN X"),
    ("TITAN X (Pascal)", "6.1", "TITAN X (Pascal)"),
    ("NVIDIA TITAN RTX", "7.5", "TITAN RTX"),
    ("TITAN V", "7.0", "TITAN V"),
    ("GeForce GTX TITAN Black", "3.5", "GeForce GTX TITAN Black"),
    # Jetson, as nvidia-smi and device-tree models print them
    ("Orin (nvgpu)", "8.7", None),
    ("NVIDIA Jetson AGX Orin", "8.7", "Jetson AGX Orin"),
    ("NVIDIA Thor", "11.0", "Jetson AGX Thor"),
    ("Jetson Nano", "5.3", "Jetson Nano"),
    ("Jetson TX2", "6.2", "Jetson TX2"),
    ("Jetson AGX Xavier", "7.2", "Jetson AGX Xavier"),
    # names cut by the nvidia-smi table, where every candidate shares one CC
    ("NVIDIA GeForce RTX 3060 Lap...", "8.6", None),
    ("NVIDIA A100-SXM4-4...", "8.0", "NVIDIA A100"),
    ("Tesla V100-SXM2-1...", "7.0", "Tesla V100"),
    ("NVIDIA GeForce RTX 409…", "8.9", None),
]


@pytest.mark.parametrize(("name", "cc", "canonical"), MESSY_NAMES)
def test_messy_names_match_the_right_gpu(name: str, cc: str, canonical: str | None) -> None:
    match = lookup(name)
    assert (match.status, match.compute_capability) == ("exact", cc), match.message
    if canonical is not None:
        assert [c.name for c in match.candidates] == [canonical]


def test_a_cut_name_shared_by_several_gpus_names_them_all() -> None:
    match = lookup("GeForce GTX 108...")
    assert [c.name for c in match.candidates] == ["GeForce GTX 1080", "GeForce GTX 1080 Ti"]
    assert "cut short" in match.message


AMBIGUOUS_NAMES = [
    ("RTX 6000", {"7.5", "8.9", "12.0"}),
    ("NVIDIA RTX 6000", {"7.5", "8.9", "12.0"}),
    ("RTX 5000", {"7.5", "8.9", "12.0"}),
    ("RTX 4000", {"7.5", "8.9", "12.0"}),
    ("GeForce GT 730", {"2.1", "3.5"}),
    ("GeForce GT 710", {"2.1", "3.5"}),
    ("GeForce GT 640", {"2.1", "3.0", "3.5"}),
    ("GeForce GT 630", {"2.1", "3.0", "3.5"}),
    ("GeForce GTX 860M", {"3.0", "5.0"}),
    ("TITAN X", {"5.2", "6.1"}),
    ("NVIDIA TITAN X", {"5.2", "6.1"}),
    ("NVIDIA RTX 50...", {"7.5", "8.9", "12.0"}),
    ("NVIDIA GeForce RTX 3050 ...", {"8.6", "8.9"}),  # RTX 3050 Ti/3050 are Ampere, 3050 A is Ada
    ("NVIDIA GeForce ...", None),
    ("NVIDIA ...", None),
]


@pytest.mark.parametrize(("name", "ccs"), AMBIGUOUS_NAMES)
def test_ambiguous_names_are_never_guessed(name: str, ccs: set[str] | None) -> None:
    match = lookup(name)
    assert (match.status, match.compute_capability) == ("ambiguous", None), match.message
    found = {c.compute_capability for c in match.candidates}
    if ccs is not None:
        assert found == ccs
        for cc in ccs:
            assert cc in match.message
    else:
        assert len(found) > 3
    assert "--compute-capability" in match.message


def test_rtx_6000_message_names_each_generation() -> None:
    assert lookup("RTX 6000").message == (
        "'RTX 6000' may be Quadro RTX 6000 (7.5), RTX 6000 Ada Generation (8.9) or "
        "RTX PRO 6000 Blackwell (12.0); pass --compute-capability 7.5 or "
        "--compute-capability 8.9 or --compute-capability 12.0"
    )


def test_a_geforce_cut_name_keeps_to_geforce_cards() -> None:
    # "NVIDIA GeForce RTX 50..." cannot be a Quadro RTX 5000 or an RTX 5000 Ada
    match = lookup("NVIDIA GeForce RTX 50...")
    assert match.status == "exact"
    assert match.compute_capability == "12.0"
    assert all(c.name.startswith("GeForce RTX 50") for c in match.candidates)


@pytest.mark.parametrize(
    ("name", "cc"),
    [("GeForce RTX 5090", "12.0"), ("Quadro RTX 5000", "7.5"), ("RTX 5080", "12.0")],
)
def test_rtx_5000_and_rtx_5090_are_not_confused(name: str, cc: str) -> None:
    assert lookup(name).compute_capability == cc


UNKNOWN_NAMES = [
    ("NVIDIA GeForce RTX 6090", "GeForce RTX 5090"),  # a close name is suggested, not taken
    ("NVIDIA Z9000", "not in the GPU table"),
    ("Graphics Device", "driver is older than the GPU"),
    ("NVIDIA Graphics Device", "driver is older than the GPU"),
    ("AMD Radeon RX 7900 XTX", "not an NVIDIA GPU"),
    ("Intel(R) UHD Graphics 630", "not an NVIDIA GPU"),
    ("", "not a GPU name"),
    ("NVIDIA", "not a GPU name"),
    ("RTX 30", "not in the GPU table"),
    # a cut word that no name and no dropped suffix starts with is not skipped over
    ("NVIDIA GeForce RTX 4090 Zz...", "cut short by nvidia-smi and matches no GPU"),
]


@pytest.mark.parametrize(("name", "words"), UNKNOWN_NAMES)
def test_unknown_names_say_so_and_what_to_do(name: str, words: str) -> None:
    match = lookup(name)
    assert (match.status, match.compute_capability, match.candidates) == ("unknown", None, ())
    assert words in match.message


def test_unconfirmed_rows_say_so_in_the_message() -> None:
    match = lookup("NVIDIA B300")
    assert match.compute_capability == "10.3"
    assert "UNCONFIRMED" in match.message


def test_every_row_is_found_by_its_name_and_aliases() -> None:
    for gpu in default_table().rows:
        for spelled in (gpu.name, *gpu.aliases):
            match = lookup(spelled)
            assert gpu.candidate() in match.candidates, (spelled, match.message)
            if match.status == "exact":
                assert match.compute_capability == gpu.compute_capability


def test_all_gpus_cover_every_generation_with_known_architectures() -> None:
    gpus = all_gpus()
    architectures = {g.architecture for g in gpus}
    assert {
        "Kepler",
        "Maxwell",
        "Pascal",
        "Volta",
        "Turing",
        "Ampere",
        "Ada Lovelace",
        "Hopper",
        "Blackwell",
    } <= architectures
    assert all(architecture_of(g.compute_capability) == g.architecture for g in gpus)


@pytest.mark.parametrize(
    ("cc", "architecture"),
    [
        ("3.7", "Kepler"),
        ("5.3", "Maxwell"),
        ("6.1", "Pascal"),
        ("7.2", "Volta"),
        ("7.5", "Turing"),
        ("8.7", "Ampere"),
        ("8.9", "Ada Lovelace"),
        ("9.0", "Hopper"),
        ("10.0", "Blackwell"),
        ("11.0", "Blackwell"),
        ("12.0", "Blackwell"),
        ("2.1", "Fermi"),
        ("13.0", "unknown"),
    ],
)
def test_architecture_of_compute_capability(cc: str, architecture: str) -> None:
    assert architecture_of(cc) == architecture


@pytest.mark.parametrize("bad", ["sm_86", "8", "", "eight.six"])
def test_architecture_of_rejects_what_is_not_a_compute_capability(bad: str) -> None:
    with pytest.raises(LabtorchError, match="not a compute capability"):
        architecture_of(bad)


def test_module_examples_hold() -> None:
    assert doctest.testmod(labtorch.gpus).failed == 0


# ---------------------------------------------------------------------------- data validation

GOOD_TABLE = """
architectures:
  source: test
  rows: {"7.5": Turing, "8.6": Ampere}
families:
  - family: Test family
    kind: desktop
    source: test
    gpus:
      - {name: GeForce RTX 3080, cc: "8.6"}
      - {name: GeForce RTX 2080, cc: "7.5"}
"""


def _write(tmp_path: Path, text: str, name: str = "gpus.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_table_file_loads(tmp_path: Path) -> None:
    table = load_table(_write(tmp_path, GOOD_TABLE))
    assert table.lookup("RTX 3080").compute_capability == "8.6"
    assert table.lookup("RTX 3090").status == "unknown"


BROKEN_ROWS = [
    ('{name: GeForce RTX 2080, cc: "7,5"}', "row 2 (GeForce RTX 2080): cc '7,5'"),
    ("{name: GeForce RTX 2080}", "row 2 (GeForce RTX 2080): cc None"),
    ('{name: GeForce RTX 2080, cc: "9.9"}', "row 2 (GeForce RTX 2080): cc 9.9 is not in"),
    ('{name: GeForce RTX 2080, cc: "7.5", colour: red}', "row 2 (GeForce RTX 2080): unknown field"),
    ('{name: GeForce RTX 2080, cc: "7.5", kind: phone}', "row 2 (GeForce RTX 2080): kind 'phone'"),
    (
        '{name: GeForce RTX 2080, cc: "7.5", aliases: RTX 2080}',
        "row 2 (GeForce RTX 2080): 'aliases'",
    ),
    (
        '{name: GeForce RTX 3080, cc: "8.6"}',
        "row 2 (GeForce RTX 3080): 'GeForce RTX 3080' is already",
    ),
    ('{cc: "7.5"}', "row 2: 'name' must be"),
    ("just a string", "row 2: 'just a string' is not a mapping"),
]


@pytest.mark.parametrize(("row", "words"), BROKEN_ROWS)
def test_a_broken_row_fails_loudly_naming_file_and_row(
    tmp_path: Path, row: str, words: str
) -> None:
    text = GOOD_TABLE.replace('{name: GeForce RTX 2080, cc: "7.5"}', row)
    path = _write(tmp_path, text)
    with pytest.raises(DataError) as caught:
        load_table(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: family 'Test family', ")
    assert words in message


def test_a_family_without_source_fails(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_TABLE.replace("    source: test\n", ""))
    with pytest.raises(DataError, match="family 'Test family' has no 'source'"):
        load_table(path)


def test_a_misspelt_family_field_fails(tmp_path: Path) -> None:
    path = _write(
        tmp_path, GOOD_TABLE.replace("    source: test\n", "    source: test\n    sorce: x\n")
    )
    with pytest.raises(DataError, match=r"family 'Test family': unknown field\(s\) sorce"):
        load_table(path)


def test_a_table_that_is_not_yaml_fails(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is not valid YAML"):
        load_table(_write(tmp_path, "families: [unclosed"))


SITE_TABLE = """
families:
  - family: Our lab
    kind: desktop
    source: "our own nvidia-smi --query-gpu=compute_cap on pc12, 2026-11-02"
    gpus:
      - {name: GeForce RTX 9090, cc: "8.6", note: "pre-release loaner"}
      - {name: GeForce RTX 2080, cc: "8.6"}
"""


def test_a_site_file_adds_and_overrides_rows(tmp_path: Path) -> None:
    table = load_table(_write(tmp_path, GOOD_TABLE), extra=_write(tmp_path, SITE_TABLE, "s.yaml"))
    assert table.lookup("NVIDIA GeForce RTX 9090").compute_capability == "8.6"
    assert "pre-release loaner" in table.lookup("RTX 9090").message
    assert table.lookup("RTX 2080").compute_capability == "8.6"  # replaced, not ambiguous
    assert len(table.rows) == 3


def test_the_site_file_named_by_the_environment_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert lookup("NVIDIA GeForce RTX 9090").status == "unknown"
    monkeypatch.setenv(labtorch.gpus.TABLE_ENV, str(_write(tmp_path, SITE_TABLE)))
    assert lookup("NVIDIA GeForce RTX 9090").compute_capability == "8.6"
    assert lookup("NVIDIA GeForce RTX 4090").compute_capability == "8.9"  # packaged rows stay


def test_a_missing_site_file_fails_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(labtorch.gpus.TABLE_ENV, str(tmp_path / "nope.yaml"))
    with pytest.raises(DataError, match=r"nope\.yaml"):
        lookup("RTX 3080")
