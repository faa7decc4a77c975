"""Near-duplicate detection before extraction: copies of one story are caught, other stories on
the same topic are not."""

from __future__ import annotations

import pytest

from extractor.batch.duplicates import NearDuplicates, _tokens, jaccard, shingles, words

STORY = """Rooftop solar and home batteries reshape a regional grid

South Australia now regularly runs for hours at a time on solar power alone, with rooftop
panels on homes and small businesses supplying a large share of the electricity used across
the state on sunny spring afternoons.

The grid operator says the change has forced new rules. Households that install panels must
now accept that their inverters can be switched off remotely during rare emergencies, when too
much solar output would make the network unstable. Several thousand homes have also joined
virtual power plants, in which a company pools home batteries and sells their stored energy
when prices are high.

Large batteries built next to wind farms help to keep the frequency steady after a coal or gas
unit trips. The state's last coal plant closed years ago, and officials expect gas to run less
often as more storage arrives. Engineers at the operator say the hardest hours are now the
early evening, when the sun sets while demand for cooking, heating and lighting peaks.

Critics point out that households without roofs of their own, such as renters, gain little
from the boom and may pay more for the poles and wires. Network companies are testing new
tariffs that reward customers for using power in the middle of the day, when it is cheapest,
and some retailers now offer free electricity for three hours around noon.

Other regions are watching closely. Planners in California, Germany and Japan face the same
midday surplus and evening shortfall, and many now study South Australia's mix of rules,
batteries and pricing as a guide for their own transition.
"""

# The same story from another outlet: its own headline, four words changed, a newsletter line.
SYNDICATED = (
    "Solar panels and batteries are remaking South Australia's power grid\n\n"
    + STORY.split("\n", 2)[2]
    .replace("regularly runs", "often runs")
    .replace("forced new rules", "forced new regulations")
    .replace("Several thousand", "Thousands of")
    .replace("watching closely", "watching carefully")
    + "\nSign up for our daily energy newsletter to get stories like this in your inbox.\n"
)

# Another story on the same topic (solar, batteries, grids): not a copy.
SAME_TOPIC = """California batteries take over the evening peak

Grid-scale batteries in California now regularly supply more power than any other source in
the early evening, according to data from the state's grid operator. Installed storage has
grown more than tenfold in five years, most of it built next to solar farms in the desert so
that cheap midday power can be shifted into the hours after sunset.

The change has cut the use of gas peaker plants, which used to start up every evening as
solar output fell. Operators say batteries respond within milliseconds, which also helps
steady the grid during heatwaves, when air conditioning pushes demand to record levels.

Developers are now racing to build longer-lasting systems. Most of today's batteries store
four hours of energy, and regulators want storage that can cover whole days of calm, cloudy
weather. Iron-air and flow batteries are being tested at several sites, though their costs
remain high and supply chains are young.

Consumer groups warn that the cost of the build-out lands on household bills, and some
counties have pushed back against large battery sites after a fire at one plant released
smoke over nearby farms. State officials say new safety rules and better monitoring will
address the concerns.

Texas, which has also added storage at a fast pace, saw its batteries help avoid emergency
alerts last summer, and analysts expect other grids to follow the same path.
"""


def test_words_fold_case_and_punctuation() -> None:
    assert words("The state's GRID -- isn't it?  Solar/wind, 10,000 MW.") == [
        "the",
        "states",
        "grid",
        "isnt",
        "it",
        "solar",
        "wind",
        "10",
        "000",
        "mw",
    ]
    full_width = "\uff26\uff55\uff4c\uff4c"  # NFKC folds it to "Full"
    assert words(f"{full_width}\u2019s width") == ["fulls", "width"]  # curly apostrophe


def test_measured_similarities() -> None:
    assert jaccard(STORY, SYNDICATED) > 0.75  # 0.76: above the 0.7 threshold
    assert jaccard(STORY, SAME_TOPIC) < 0.02
    assert len(shingles("one two three four", 5)) == 0


def test_lightly_reworded_copy_is_flagged() -> None:
    near = NearDuplicates()
    assert near.check("energywire/solar.html", STORY) is None
    assert near.check("gridnews/solar-copy.html", SYNDICATED) == "energywire/solar.html"


def test_different_story_on_the_same_topic_is_not_flagged() -> None:
    near = NearDuplicates()
    assert near.check("solar", STORY) is None
    assert near.check("batteries", SAME_TOPIC) is None
    assert len(near) == 2


def test_exact_copies_are_flagged_up_to_case_punctuation_and_spacing() -> None:
    near = NearDuplicates()
    assert near.check("a", STORY) is None
    assert near.check("b", STORY) == "a"
    assert near.check("c", "  " + STORY.upper().replace(",", " ;").replace("\n", "\n\n")) == "a"


def test_copies_point_at_the_first_article_and_are_not_remembered() -> None:
    near = NearDuplicates()
    assert near.check("first", STORY) is None
    assert near.check("copy", SYNDICATED) == "first"
    assert near.check("copy-of-copy", SYNDICATED) == "first"
    assert len(near) == 1


def test_an_id_checked_again_is_not_its_own_duplicate() -> None:
    near = NearDuplicates()
    assert near.check("a", STORY) is None
    assert near.check("a", STORY) is None  # a resumed run sees the same article again
    assert near.check("a", SYNDICATED) is None
    assert len(near) == 1


def test_short_texts_compare_by_exact_normalised_text_only() -> None:
    near = NearDuplicates()
    assert near.check("s1", "Solar wins again.") is None
    assert near.check("s2", "solar WINS again") == "s1"
    assert near.check("s3", "Solar wins again today") is None  # four words: no shingle at all
    assert near.check("s4", "Solar loses again.") is None
    assert len(near) == 3


def test_texts_without_words_are_neither_matched_nor_remembered() -> None:
    near = NearDuplicates()
    assert near.check("blank", "") is None
    assert near.check("dots", " ... -- ") is None
    assert near.check("blank-again", "") is None
    assert len(near) == 0


def test_the_most_similar_earlier_article_wins() -> None:
    extended = STORY + "\nThe operator will publish a full report on the winter months in June.\n"
    near = NearDuplicates()
    assert near.check("extended", extended) is None
    assert near.check("original", STORY) == "extended"
    assert near.check("syndicated", SYNDICATED) == "extended"


def test_deterministic_across_instances() -> None:
    texts = {"solar": STORY, "copy": SYNDICATED, "batteries": SAME_TOPIC, "copy2": STORY}

    def run() -> list[str | None]:
        near = NearDuplicates()
        return [near.check(name, text) for name, text in texts.items()]

    assert run() == run() == [None, "solar", None, "solar"]


def test_threshold_is_configurable() -> None:
    strict = NearDuplicates(threshold=0.95)
    assert strict.check("a", STORY) is None
    assert strict.check("b", SYNDICATED) is None
    loose = NearDuplicates(threshold=0.5, num_perm=64)
    assert loose.check("a", STORY) is None
    assert loose.check("b", SYNDICATED) == "a"


@pytest.mark.parametrize("kwargs", [{"threshold": 0.0}, {"threshold": 1.5}, {"shingle": 0}])
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        NearDuplicates(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        STORY,
        "Don't STOP: the A.I. rule_set, 2026 edition -- 50% off!\x1c\x1fend\ttab",
        "Café au lait, naïve façade; Ｆｕｌｌｗｉｄｔｈ ＡＢＣ and it\u2019s ok",
        "",
        "!!! ... ???",
    ],
)
def test_the_byte_path_splits_words_as_words_does(text: str) -> None:
    assert _tokens(text) == [word.encode("utf-8") for word in words(text)]


def test_an_id_checked_again_keeps_its_first_text() -> None:
    index = NearDuplicates()
    assert index.check("a", STORY) is None
    assert index.check("a", "A different text entirely, about ports and cranes at night.") is None
    assert len(index) == 1
    assert index.check("b", STORY) == "a"
    index.close()
