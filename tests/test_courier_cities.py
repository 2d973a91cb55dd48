"""A Shopify city as the customer typed it, on each courier's own list; doubt goes to a person."""
import pytest

from pos_core import courier_cities as cc, db as dbmod
from pos_core.errors import InvalidInput


@pytest.fixture(autouse=True)
def built_in_lists(request):
    """The lookups below read the built-in lists: no database (one left open by an earlier test
    would otherwise be asked for a stored list)."""
    if "database" not in request.fixturenames:
        dbmod.close()
        dbmod.database.initialize(None)
    yield


@pytest.mark.parametrize("typed,leopards,postex", [
    ("Lahore", "789", "Lahore"), ("lhr", "789", "Lahore"), ("LAHORE CITY", "789", "Lahore"),
    ("Rawalpindi Cantt", "1045", "Rawalpindi"), ("Faisalbad", "311", "Faisalabad"),
    ("D.I.Khan", "208", "D.I. Khan"), ("DI Khan", "208", "D.I. Khan"), ("Gujrat", "335", "Gujrat"),
])
def test_exact_names_and_known_short_forms_map_without_asking(typed, leopards, postex):
    assert cc.match("leopards", typed).city.code == leopards
    assert cc.match("postex", typed).city.code == postex


def test_pindi_means_several_places_and_the_person_chooses():
    m = cc.match("leopards", "Pindi")
    assert m.ambiguous and not m.found
    assert [c.name for c in m.choices] == ["Rawalpindi", "Pindi Bhattian", "Pindi Gheb"]
    assert [c.name for c in cc.match("postex", "pindi").choices] == ["Rawalpindi", "Pindi Bhattian"]


def test_a_misspelling_is_offered_never_chosen():
    m = cc.match("leopards", "Gujranwla")
    assert m.city is None and m.choices[0].name == "Gujranwala"
    assert cc.match("leopards", "Sialkott").choices[0].name == "Sialkot"


def test_nothing_like_it_gives_no_choice_and_find_refuses_a_stranger():
    for typed in ("Atlantis", "", "   ", "12345"):
        m = cc.match("postex", typed)
        assert m.city is None and m.choices == ()
    with pytest.raises(InvalidInput, match="city list"):
        cc.find("leopards", "Atlantis")
    with pytest.raises(InvalidInput, match="no city list"):
        cc.match("tcs", "Lahore")
    assert cc.find("leopards", "Lahore").code == "789" and cc.find("leopards", "789").name == "Lahore"


def test_a_list_read_from_the_courier_replaces_the_built_in_one():
    before = cc.cities("postex")
    try:
        cc.load_cities("postex", [("Chitral", "Chitral")])
        assert cc.match("postex", "chitral").city.code == "Chitral"
        assert cc.match("postex", "Lahore").city is None
        with pytest.raises(InvalidInput, match="empty"):
            cc.load_cities("postex", [])
    finally:
        cc._CITIES["postex"] = before


def test_a_list_the_agent_stored_is_what_every_process_uses(database):
    from pos_core import heartbeat
    assert cc.match("leopards", "Chitral").city is None              # not on the built-in list
    rows = [("789", "Lahore"), ("1045", "Rawalpindi"), ("1001", "Pindi Bhattian"), ("2001", "Chitral"),
            ("2002", "Chakwal"), ("2003", "Chiniot")]
    assert cc.store_cities("leopards", rows) == 6
    assert cc.match("leopards", "chitral").city.code == "2001"
    assert cc.match("leopards", "Karachi").city is None                # the stored list replaces it
    assert [c.name for c in cc.match("leopards", "Pindi").choices] == ["Rawalpindi", "Pindi Bhattian"]
    assert cc.match("postex", "Karachi").city is not None              # other couriers keep theirs
    with pytest.raises(InvalidInput, match="keeping the list"):
        cc.store_cities("leopards", [("1", "Lahore")])
    assert len(heartbeat.get_detail(cc.STORE)["leopards"]) == 6
