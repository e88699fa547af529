"""``traj adapters convert`` never writes over its source: a destination that is the source (by
name, through a symlink, or a file linked to one of the source's) or inside it is refused with
one error line, and the source's bytes stay as they were."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from traj.cli import app
from traj.policy import AdapterFormatError, peft_to_mlx


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory, model_dir: Path, random_adapter) -> dict[str, Path]:
    """The same adapter in both formats, to convert each way."""
    root = tmp_path_factory.mktemp("adapters")
    peft = random_adapter(model_dir, root / "peft", seed=0, targets=("q_proj", "v_proj"), rank=4)
    return {"peft": peft, "mlx": peft_to_mlx(peft, root / "mlx", base_model=model_dir)}


def copy_of(adapter: Path, dst: Path) -> Path:
    """A test's own copy of a fixture adapter: a conversion that wrongly writes damages only it."""
    dst.mkdir(parents=True)
    for file in adapter.iterdir():
        (dst / file.name).write_bytes(file.read_bytes())
    return dst


def same_directory(src: Path) -> Path:
    return src


def same_through_a_symlink(src: Path) -> Path:
    link = src.with_name(f"{src.name}-link")
    link.symlink_to(src, target_is_directory=True)
    return link


def same_through_dot_dot(src: Path) -> Path:
    return src / ".." / src.name


def inside_the_source(src: Path) -> Path:
    return src / "converted"


def config_linked_to_the_source(src: Path) -> Path:
    """A directory whose adapter_config.json is a symlink to the source's: writing it would follow the link."""
    dst = src.with_name(f"{src.name}-linked")
    dst.mkdir()
    (dst / "adapter_config.json").symlink_to(src / "adapter_config.json")
    return dst


def config_hard_linked_to_the_source(src: Path) -> Path:
    dst = src.with_name(f"{src.name}-hardlinked")
    dst.mkdir()
    os.link(src / "adapter_config.json", dst / "adapter_config.json")
    return dst


@pytest.mark.parametrize("source", ["peft", "mlx"])
@pytest.mark.parametrize(
    "destination",
    [
        same_directory,
        same_through_a_symlink,
        same_through_dot_dot,
        inside_the_source,
        config_linked_to_the_source,
        config_hard_linked_to_the_source,
    ],
)
def test_convert_refuses_to_write_over_its_source(adapters, tmp_path, tree_bytes, source, destination):
    src = copy_of(adapters[source], tmp_path / source)
    before = tree_bytes(src)
    dst = destination(src)

    result = CliRunner().invoke(app, ["adapters", "convert", str(src), str(dst)])

    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "source" in lines[0], result.output
    assert tree_bytes(src) == before


def test_the_library_conversion_refuses_its_source_too(adapters, tmp_path, tree_bytes):
    src = copy_of(adapters["peft"], tmp_path / "peft")
    before = tree_bytes(src)
    with pytest.raises(AdapterFormatError, match="source"):
        peft_to_mlx(src, src)
    assert tree_bytes(src) == before


def test_convert_into_the_directory_holding_the_source_is_allowed(adapters, tmp_path, tree_bytes):
    """Writing next to the source (its parent) writes no file of the source's."""
    src = copy_of(adapters["peft"], tmp_path / "outer" / "peft")
    before = tree_bytes(src)
    result = CliRunner().invoke(app, ["adapters", "convert", str(src), str(src.parent)])
    assert result.exit_code == 0, result.output
    assert (src.parent / "adapters.safetensors").is_file()
    assert tree_bytes(src) == before
