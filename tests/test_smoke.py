def test_whoami_shows_the_super_admin(run):
    result = run("whoami", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json["email"] == "admin@vendor.example"
    assert result.json["is_super_admin"] is True
