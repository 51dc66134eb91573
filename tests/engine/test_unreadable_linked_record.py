"""A linked record that turns unreadable is quarantined, never taken for deleted.

A bookkeeper who blanks a contact's name in sevDesk leaves a contact kleansync cannot
read as a customer. A full listing then lacks that contact; taken for "deleted in
sevDesk", the default rule would archive the KleanApp customer (and drop the link),
though nobody deleted anything. The unreadable record is reported instead, the pair
is left alone, and once the name is back everything carries on as before.
"""

from tests.engine.conftest import customer


async def test_a_linked_contact_whose_name_was_blanked_in_sevdesk_is_reported_never_archived(
    env,
):
    for n in range(1, 21):
        await env.k.customers.create(customer(f"K-{n}"))
    assert (await env.sync()).exit_code == 0
    by_number = {r.record.customer_number: r for r in (await env.customers("sevdesk")).values()}
    blanked = by_number["K-7"].id
    await env.s.api.call("PUT", f"Contact/{blanked}", json={"name": ""})

    reported = []
    for options in ({"full": True}, {}):
        run = await env.sync(**options)
        reported += [q.id for q in run.quarantined]
        assert run.exit_code == 0, run.errors
        kleanapp = {
            r.record.customer_number: r.record for r in (await env.customers("kleanapp")).values()
        }
        assert not any(c.archived for c in kleanapp.values()), options
        assert "K-7" in kleanapp
        assert run.counts == {}, (options, run.counts)
    assert reported == [blanked]  # said once, with the other runs counting it as known
    assert run.known_quarantined == 1

    await env.s.api.call("PUT", f"Contact/{blanked}", json={"name": "Praxis K-7 neu"})
    run = await env.sync(full=True)
    kleanapp = {
        r.record.customer_number: r.record for r in (await env.customers("kleanapp")).values()
    }
    assert kleanapp["K-7"].company_name == "Praxis K-7 neu"
    assert not kleanapp["K-7"].archived
    assert (await env.sync(full=True)).counts == {}
