def test_it_numbers_versions_and_tracks_latest(hub):
    from apps.prompts.selectors import version_at_tag

    assert (hub["v1"].number, hub["v2"].number) == (1, 2)
    assert version_at_tag(hub["prompt"], "latest") == hub["v2"]
    assert hub["v2"].parent == hub["v1"]
    assert hub["v1"].variables == ["name"]
