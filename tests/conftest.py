pytest_plugins = ["vaultext_sandbox.pytest_plugin"]
