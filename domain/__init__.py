"""The DNC rules, free of frameworks and drivers: models, ports, phone numbers, use cases."""
