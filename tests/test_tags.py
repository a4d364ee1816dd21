"""The tag grammar: what each spelling a user (or Kale, or papermill) writes in
``metadata.tags`` means, and what cellpipe says about the ones it cannot read."""

from __future__ import annotations

import pytest

from cellpipe.core.tags import CellTags, TagProblem, closest_tag, parse_tags, suggest_step_name

# -- tags cellpipe understands --------------------------------------------------

UNDERSTOOD = [
    # cellpipe's own tags
    (["step:train"], CellTags(step="train")),
    (["step:train-model_2"], CellTags(step="train-model_2")),
    (["step:_private"], CellTags(step="_private")),
    (["after:load"], CellTags(after=("load",))),
    (["after:load", "after:clean"], CellTags(after=("load", "clean"))),
    (["after:load", "after:load"], CellTags(after=("load",))),
    (["parameters"], CellTags(roles=frozenset({"parameters"}))),
    (["metrics"], CellTags(roles=frozenset({"metrics"}))),
    (["imports"], CellTags(roles=frozenset({"imports"}))),
    (["functions"], CellTags(roles=frozenset({"functions"}))),
    (["imports", "functions"], CellTags(roles=frozenset({"imports", "functions"}))),
    (["skip"], CellTags(roles=frozenset({"skip"}))),
    (["in:data/raw.csv"], CellTags(inputs=("data/raw.csv",))),
    (["in:data/"], CellTags(inputs=("data/",))),
    (["in:https://example.com/x.csv"], CellTags(inputs=("https://example.com/x.csv",))),
    (["out:model.pkl"], CellTags(outputs=("model.pkl",))),
    (["in:a.csv", "in:b.csv", "out:c.csv"], CellTags(inputs=("a.csv", "b.csv"), outputs=("c.csv",))),
    (["nocache"], CellTags(nocache=True)),
    (
        ["step:train", "after:load", "in:x.csv", "out:m.pkl", "nocache", "metrics"],
        CellTags(
            step="train",
            after=("load",),
            inputs=("x.csv",),
            outputs=("m.pkl",),
            nocache=True,
            roles=frozenset({"metrics"}),
        ),
    ),
    # Kale's spellings
    (["block:train"], CellTags(step="train")),
    (["prev:load"], CellTags(after=("load",))),
    (["block:train", "prev:load", "prev:clean"], CellTags(step="train", after=("load", "clean"))),
    (["pipeline-parameters"], CellTags(roles=frozenset({"parameters"}))),
    (["pipeline-metrics"], CellTags(roles=frozenset({"metrics"}))),
    # an empty step/block tag merges the cell into the step above
    (["block:"], CellTags(step="")),
    (["step:"], CellTags(step="")),
    (["step:", "block:"], CellTags(step="")),
    (["step:", "step:train"], CellTags(step="train")),
    (["step:train", "block:"], CellTags(step="train")),
    (["step:train", "block:train"], CellTags(step="train")),
    # Kale's export hints are kept, value as written
    (["limit:nvidia.com/gpu:1"], CellTags(hints=(("limit", "nvidia.com/gpu:1"),))),
    (["image:python:3.11-slim"], CellTags(hints=(("image", "python:3.11-slim"),))),
    (["annotation:team:ml"], CellTags(hints=(("annotation", "team:ml"),))),
    (["label:tier:gold"], CellTags(hints=(("label", "tier:gold"),))),
    (
        ["block:train", "limit:nvidia.com/gpu:1", "image:gcr.io/x:1"],
        CellTags(step="train", hints=(("limit", "nvidia.com/gpu:1"), ("image", "gcr.io/x:1"))),
    ),
    # papermill
    (["injected-parameters"], CellTags(injected_parameters=True)),
    # whitespace around a tag or a value is not part of it
    ([" metrics ", "skip "], CellTags(roles=frozenset({"metrics", "skip"}))),
    (["step: train"], CellTags(step="train")),
    (["in: data/a b.csv "], CellTags(inputs=("data/a b.csv",))),
    # no tags at all
    ([], CellTags()),
    ([""], CellTags()),
    (None, CellTags()),
    ("", CellTags()),
    ((("step:train",)), CellTags(step="train")),
]


@pytest.mark.parametrize(
    "tags, expected", UNDERSTOOD, ids=[repr(t) for t, _ in UNDERSTOOD]
)
def test_understood_tags(tags, expected):
    assert parse_tags(tags) == expected


FOREIGN = [
    "hide-input",
    "hide-output",
    "hide-cell",
    "remove-input",
    "remove-output",
    "remove-cell",
    "raises-exception",
    "full-width",
    "margin",
    "thebe-init",
    "nbval-skip",
    "nbval-ignore-output",
    "active-ipynb",
    "skip-execution",
    "my-own-tag",
    "train",
    "data",
]


@pytest.mark.parametrize("tag", FOREIGN)
def test_other_tools_tags_are_ignored_silently(tag):
    assert parse_tags([tag]) == CellTags()


def test_foreign_tags_do_not_hide_ours():
    assert parse_tags(["hide-input", "block:train", "remove-output", "pipeline-metrics"]) == CellTags(
        step="train", roles=frozenset({"metrics"})
    )


@pytest.mark.parametrize(
    "tags, role",
    [
        (["parameters"], "parameters"),
        (["pipeline-parameters"], "parameters"),
        (["imports"], "imports"),
        (["functions"], "functions"),
        (["skip"], "skip"),
        (["metrics"], None),  # a metrics cell is an ordinary cell of its step
        (["step:train"], None),
        ([], None),
        (["parameters", "skip"], "skip"),  # skip wins: the cell is not part of the pipeline
        (["imports", "functions"], "imports"),
    ],
)
def test_a_cells_structural_role(tags, role):
    assert parse_tags(tags).role == role


# -- tags cellpipe reports ------------------------------------------------------

MISSPELLED = [
    # (tag, the fix's suggestion)
    ("setp:train", "step:train"),
    ("stepp:train", "step:train"),
    ("STEP:train", "step:train"),
    ("Step:train", "step:train"),
    ("blok:train", "block:train"),
    ("afterr:load", "after:load"),
    ("pre:load", "prev:load"),
    ("ins:data.csv", "in:data.csv"),
    ("outs:model.pkl", "out:model.pkl"),
    ("limits:nvidia.com/gpu:1", "limit:nvidia.com/gpu:1"),
    ("images:python:3.11", "image:python:3.11"),
    ("parameter", "parameters"),
    ("paramters", "parameters"),
    ("Parameters", "parameters"),
    ("metric", "metrics"),
    ("import", "imports"),
    ("function", "functions"),
    ("skipp", "skip"),
    ("Skip", "skip"),
    ("no-cache", "nocache"),
    ("pipeline-parameter", "pipeline-parameters"),
    ("pipeline_metrics", "pipeline-metrics"),
    # the suggestion is itself a valid tag: its step name is repaired too
    ("setp:Train Model", "step:train_model"),
    ("pre:Load Data", "prev:load_data"),
]


@pytest.mark.parametrize("tag, suggestion", MISSPELLED)
def test_misspelled_tags_are_reported_with_the_closest_spelling(tag, suggestion):
    result = parse_tags([tag])
    assert result.problems == (TagProblem(tag, f"unknown tag {tag!r}", f"did you mean '{suggestion}'?"),)
    assert (result.step, result.after, result.roles, result.nocache) == (None, (), frozenset(), False)


@pytest.mark.parametrize("tag, suggestion", MISSPELLED)
def test_every_suggested_spelling_is_accepted_as_it_is(tag, suggestion):
    assert closest_tag(tag) == suggestion
    assert parse_tags([suggestion]).problems == ()


@pytest.mark.parametrize("tag", ["foo:bar", ":x", "depends:load", "https://example.com"])
def test_an_unknown_prefix_with_nothing_close_lists_the_known_prefixes(tag):
    (problem,) = parse_tags([tag]).problems
    assert problem.tag == tag
    assert problem.message == f"unknown tag {tag!r}"
    assert problem.fix == (
        "known prefixes are 'after:', 'annotation:', 'block:', 'image:', 'in:', 'label:', "
        "'limit:', 'out:', 'prev:', 'retry:', 'step:', 'timeout:'"
    )


BAD_STEP_NAMES = [
    # (tag, the tag to write instead)
    ("step:Train Model", "step:train_model"),
    ("step:Train", "step:train"),
    ("block:Load-Data", "block:load-data"),
    ("step:1st", "step:_1st"),
    ("step:-x", "step:x"),
    ("step:train model!", "step:train_model"),
    ("step:train:extra", "step:train_extra"),
    ("step:Étape 1", "step:etape_1"),
    ("step:!!!", "step:step"),
]


@pytest.mark.parametrize("tag, fixed", BAD_STEP_NAMES)
def test_bad_step_names_are_reported_with_a_valid_name(tag, fixed):
    prefix, _, value = tag.partition(":")
    result = parse_tags([tag])
    assert result.step is None
    assert result.problems == (
        TagProblem(
            tag,
            f"bad step name {value!r} in tag {tag!r}: a step name is lowercase letters, digits, "
            "'_' and '-', starting with a letter or '_'",
            f"write '{fixed}'",
        ),
    )
    assert parse_tags([fixed]).problems == ()


@pytest.mark.parametrize(
    "tag, fix",
    [
        ("after:", "write 'after:step_name'"),
        ("prev:", "write 'prev:step_name'"),
        ("after:Bad Name", "write 'after:bad_name'"),
        ("prev:Load", "write 'prev:load'"),
    ],
)
def test_after_tags_must_name_a_valid_step(tag, fix):
    assert parse_tags([tag]) == CellTags(
        problems=(TagProblem(tag, f"tag {tag!r} does not name a valid step", fix),)
    )


@pytest.mark.parametrize("tag", ["in:", "out:", "in:   ", "out: "])
def test_in_and_out_tags_must_name_a_file(tag):
    prefix = tag.partition(":")[0]
    (problem,) = parse_tags([tag]).problems
    assert problem == TagProblem(
        tag.strip(),
        f"tag {tag.strip()!r} names no file",
        f"write '{prefix}:data/file.csv' with the path relative to the notebook",
    )


def test_a_cell_with_several_step_names_belongs_to_each_as_in_kale():
    result = parse_tags(["step:load", "block:train", "block:train", "block:score"])
    assert result.step == "load"
    assert result.also_steps == ("train", "score")
    assert result.problems == ()


@pytest.mark.parametrize(
    "tags",
    ["step:train", {"step": "train"}, 3, True],
    ids=["a string", "a dict", "a number", "a boolean"],
)
def test_tags_that_are_not_a_list(tags):
    assert parse_tags(tags) == CellTags(
        problems=(
            TagProblem(
                str(tags),
                "metadata.tags is not a list",
                'write the tags as a JSON list, e.g. "tags": ["step:train"]',
            ),
        )
    )


@pytest.mark.parametrize("item", [3, None, ["step:a"], {"step": "a"}])
def test_a_tag_that_is_not_a_string_is_reported_and_the_rest_still_read(item):
    result = parse_tags(["step:train", item, "nocache"])
    assert result.step == "train" and result.nocache
    assert result.problems == (TagProblem(str(item), f"tag {item!r} is not a string", "remove it or quote it"),)


def test_every_problem_of_a_cell_is_reported_in_order():
    result = parse_tags(["setp:train", "parameter", "after:", "step:load"])
    assert [p.tag for p in result.problems] == ["setp:train", "parameter", "after:"]
    assert result.step == "load"


# -- helpers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, suggestion",
    [
        ("Train Model", "train_model"),
        ("  train  ", "train"),
        ("my-analysis", "my-analysis"),
        ("2024 report", "_2024_report"),
        ("Étape été", "etape_ete"),
        ("...", "step"),
        ("", "step"),
    ],
)
def test_suggest_step_name(name, suggestion):
    assert suggest_step_name(name) == suggestion


@pytest.mark.parametrize("tag", ["completely-unrelated", "xyz", "hide-input", "data"])
def test_closest_tag_is_none_when_nothing_is_close(tag):
    assert closest_tag(tag) is None
