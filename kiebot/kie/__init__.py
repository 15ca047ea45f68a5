"""A typed Kie.ai API client. Imports nothing from the rest of kiebot."""
