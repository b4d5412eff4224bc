"""The rules of the house (ARCHITECTURE.md), checked on the source: no import cycle between
any two modules of the package, training and export reach into the runtime only through its
public contracts, training never imports export, each model family's builder is registered
for the torch backend, and the workstation's modules stay small."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from import_graph import RUNTIME, WORKSTATION, cycles, graph, imports, package_modules, trees

ALL = package_modules({**RUNTIME, **WORKSTATION})
WORKSTATION_MODULES = package_modules(WORKSTATION)
# The runtime's contracts training and export may use (ARCHITECTURE.md, "Contracts"); a
# module here is a promise to keep its public names stable for them.
RUNTIME_CONTRACTS = (
    "edge_emotion",  # __version__
    "edge_emotion.kernels",  # the kernels' public API
    "edge_emotion.kernels.config",  # FeatureConfig, montages
    "edge_emotion.kernels.features",  # trial_features: the one feature path
    "edge_emotion.normalization",  # Normalization
    "edge_emotion.bundle",  # manifest schema, kinds, roles, input names, load_bundle
    "edge_emotion.decision",  # Decision, AbstainReason
    "edge_emotion.source",  # Source, Chunk, StreamInfo
    "edge_emotion.engines",  # BACKENDS, create_engine
    "edge_emotion.synthetic",  # synthetic ECG/EEG for generated datasets
    "edge_emotion.lane",  # how the device fills missing samples; recordings are filled alike
    "edge_emotion.quality",  # the device's window checks; training drops what it abstains on
    "edge_emotion.brainflow_source",  # BrainFlow board layouts and file I/O (recordings)
    "edge_emotion.out_dir",  # output folders that keep users' files (export --out, synth)
    "edge_emotion.figures",  # --format/--dpi and figure files, for every command that draws
    "edge_emotion.cli_help",  # --help with defaults, the name the command was started by
)
MAX_LINES = 450


def test_the_whole_package_is_found():
    for name in (
        "edge_emotion.normalization",
        "edge_emotion.training.families",
        "edge_emotion.training.datasets.eav_loader",
        "edge_emotion.export.bundle_writer",
        "edge_emotion.firmware_bridge.protocol",
    ):
        assert name in ALL


def test_no_import_cycle_between_any_modules():
    """Imports anywhere in a module count, those inside functions too: a cycle hidden in a
    function still ties two modules together."""
    edges = graph(ALL, module_level_only=False)
    assert "edge_emotion.training.eav_cli" in edges["edge_emotion.training.cli"]
    found = cycles(edges)
    assert not found, "\n".join(found)


def test_training_and_export_use_only_the_runtimes_public_contracts():
    runtime = package_modules(RUNTIME)
    bad = []
    for name, tree in trees(WORKSTATION_MODULES).items():
        for target, names in imports(tree, module_level_only=False):
            if target not in runtime and not any(f"{target}.{n}" in runtime for n in names):
                continue  # not the runtime
            modules = {f"{target}.{n}" for n in names} & runtime.keys() or {target}
            private = [n for n in names if n.startswith("_")]
            outside = sorted(m for m in modules if m not in RUNTIME_CONTRACTS)
            if outside or private:
                what = ", ".join(outside) or target
                bad.append(f"{name} imports {what}" + (f" (private: {private})" if private else ""))
    assert not bad, "\n".join(bad)


def test_training_never_imports_export():
    bad = [
        f"{name} imports {target}"
        for name, tree in trees(package_modules({"training": "edge_emotion.training"})).items()
        for target, _ in imports(tree, module_level_only=False)
        if target == "edge_emotion.export" or target.startswith("edge_emotion.export.")
    ]
    assert not bad, "\n".join(bad)


def test_every_family_registers_its_builder_for_the_torch_backend():
    from edge_emotion.training.families import FAMILIES

    registered = {ep.name: ep for ep in entry_points(group="edge_emotion.model_builders")}
    expected = {name: family for family in FAMILIES for name in family.model_names}
    assert set(registered) == set(expected)
    for name, family in expected.items():
        assert registered[name].load() is family.build, name


@pytest.mark.parametrize("name", sorted(WORKSTATION_MODULES))
def test_workstation_modules_stay_small(name):
    lines = WORKSTATION_MODULES[name].read_text().count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it along a real seam"
