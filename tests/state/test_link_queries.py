"""Links looked up by id, key and number, counted, and inserted in chunks (state.link_queries).

An incremental run and the brake rely on these answering exactly what reading
every link would: the same links, the same count, the same numbers; a chunk
of new links with one clash stores all the others and names the clashing one.
"""

from __future__ import annotations

from state import Store


def _link(i: int, **fields: object) -> dict:
    data: dict = {
        "entity": "customer",
        "key": f"K-{i:05d}",
        "kleanapp_id": str(i),
        "sevdesk_id": f"s{i}",
        "base": {"customer_number": f"K-{i:05d}"},
        "kleanapp_raw": {"customer_number": "fp"},
        "sevdesk_raw": {"customer_number": "fp"},
    }
    data.update(fields)
    return data


def test_lookups_answer_what_reading_every_link_would(state_url):
    store = Store(state_url)
    stored = store.insert_links([_link(i) for i in range(1, 1201)])  # more than one batch
    every = {link.id: link for link in store.links("customer")}
    assert stored == [
        link.id for link in sorted(every.values(), key=lambda lk: int(lk.kleanapp_id))
    ]

    assert store.count_links("customer") == 1200 == len(every)
    found = store.links_by_ids(
        "customer", kleanapp_ids=[str(i) for i in range(1, 701)], sevdesk_ids=["s5", "s1100", "x"]
    )
    assert sorted(link.id for link in found) == sorted(
        link.id for link in every.values() if int(link.kleanapp_id) <= 700 or link.key == "K-01100"
    )
    assert found[0].base == {"customer_number": "K-00001"}
    assert [link.kleanapp_id for link in store.links_by_keys("customer", ["K-00009", "Z"])] == ["9"]
    assert store.taken_numbers([" K-00003 ", "K-99999", ""]) == {"K-00003"}
    assert store.links_without_fingerprints() == 0
    store.insert_links([_link(5000, kleanapp_raw=None, sevdesk_raw=None)])
    store.insert_links([_link(5001, base=None, kleanapp_raw=None, sevdesk_raw=None)])
    assert store.links_without_fingerprints() == 1  # a base but no fingerprints
    store.close()


def test_a_clash_in_a_chunk_stores_the_others_and_names_the_clashing_link(state_url):
    store = Store(state_url)
    store.insert_links([_link(1)])

    stored = store.insert_links([_link(2), _link(3, kleanapp_id="1"), _link(4)])

    assert [link_id is not None for link_id in stored] == [True, False, True]
    by_id = {link.id: link.key for link in store.links("customer")}
    assert sorted(by_id.values()) == ["K-00001", "K-00002", "K-00004"]
    assert [by_id.get(link_id) for link_id in stored] == ["K-00002", None, "K-00004"]
    store.close()


def test_a_full_runs_walk_over_the_links_brings_each_once_across_batches(state_url, monkeypatch):
    # A full run plans with links read in batches (StoredLinks); a lost or repeated link at a
    # batch's edge would be a pair never planned (a deletion never carried) or planned twice.
    import state.link_queries as link_queries

    monkeypatch.setattr(link_queries, "READ_BATCH", 3)
    store = Store(state_url)
    store.insert_links([_link(i) for i in range(1, 12)])
    for link in store.links("customer"):
        if link.kleanapp_id in {"3", "4", "7"}:  # gaps in the ids, one at a batch's edge
            store.delete_link(link.id or 0)
    store.insert_links([_link(99, entity="unit", key="Std", kleanapp_id="u1", sevdesk_id="u1")])

    walked = [link.kleanapp_id for link in store.stored_links("customer")]
    assert walked == [link.kleanapp_id for link in store.links("customer")]
    assert walked == ["1", "2", "5", "6", "8", "9", "10", "11"]
    assert [link.key for link in store.stored_links("customer")] == [
        f"K-{int(i):05d}" for i in walked
    ]
    assert [lk.kleanapp_id for lk in store.stored_links("unit")] == ["u1"]
    assert [ids.kleanapp_id for ids in store.link_ids("customer")] == walked


def test_digests_of_quiet_pairs_are_kept_only_on_links_not_written_since(state_url):
    # A run keeps the digests of the pairs it found quiet after it applied its plan; a link
    # written in between (its ``updated_at`` moved) describes another base and keeps none.
    store = Store(state_url)
    first, second = store.insert_links([_link(1), _link(2)])
    assert first is not None and second is not None
    seen = {link.id: link.updated_at for link in store.links("customer")}
    new = store.get_link(first)
    assert new is not None and new.kleanapp_digest is None and new.sevdesk_digest is None
    store.save_link(store.get_link(second))  # written meanwhile (the run's own write)

    kept = store.keep_digests(
        {first: (("k1", "s1"), seen[first]), second: (("k2", "s2"), seen[second])}
    )

    assert kept == 1
    after = {
        link.id: (link.kleanapp_digest, link.sevdesk_digest) for link in store.links("customer")
    }
    assert after == {first: ("k1", "s1"), second: (None, None)}
    assert store.get_link(first).updated_at == seen[first]  # nothing agreed anew
    assert store.keep_digests({}) == 0
    store.close()
