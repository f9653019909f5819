"""Pinyin letters to hanzi candidates, on a small table written here."""

from __future__ import annotations

from pos_app.domain.pinyin_input import Candidate, PinyinTable

TABLE = "\n".join(
    [
        "# a small table in the generated file's format",
        "r\t中王方芳国果网珍真珠朱奶茶",
        "c\tzhong\t中",
        "c\twang\t网王",
        "c\tfang\t方芳",
        "c\tguo\t国果",
        "c\tzhen\t真珍",
        "c\tzhu\t珠朱",
        "c\tzhun\t准",
        "c\tnai\t奶",
        "c\tai\t爱",
        "c\tcha\t茶",
        "c\tan\t安",
        "w\tzhong'guo\t中国",
        "w\tzhen'zhu\t珍珠",
        "w\tfang'an\t方案",
    ]
)


def test_letters_split_into_the_fewest_syllables_that_make_words():
    table = PinyinTable(TABLE)
    assert table.segment("zhongguo") == ["zhong", "guo"]
    # zhen zhun ai cha and zhen zhu nai cha are both four: the one with 珍珠 wins.
    assert table.segment("zhenzhunaicha") == ["zhen", "zhu", "nai", "cha"]
    assert table.segment("wangf") == ["wang", "f"]  # still typing the second syllable
    assert table.segment("WangFang") == ["wang", "fang"]
    assert table.segment("x") == ["x"]  # begins no syllable: kept, offers nothing
    assert table.candidates("x") == []


def test_words_first_then_the_first_syllables_hanzi_and_what_a_pick_leaves():
    table = PinyinTable(TABLE)
    found = table.candidates("zhongguo")
    assert [c.text for c in found] == ["中国", "中"]
    assert table.remaining("zhongguo", found[0]) == ""
    assert table.remaining("zhongguo", found[1]) == "guo"
    wang = table.candidates("wangfang")
    assert [c.text for c in wang] == ["网", "王"]
    assert table.remaining("wangfang", Candidate("王", 1)) == "fang"
    assert [c.text for c in table.candidates("fang")] == ["方", "芳"]


def test_a_syllable_being_typed_offers_every_hanzi_it_may_become_most_used_first():
    table = PinyinTable(TABLE)
    assert [c.text for c in table.candidates("zh")] == ["中", "珍", "真", "珠", "朱", "准"]
    assert len(table.candidates("zh", limit=2)) == 2
