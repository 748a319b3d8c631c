def pytest_configure(config):
    # markers the airbyte-cdk standard tests use (the project runs with --strict-markers)
    config.addinivalue_line("markers", "image_tests: airbyte-cdk tests that build a Docker image")
    config.addinivalue_line("markers", "requires_creds: airbyte-cdk scenarios needing secrets")
