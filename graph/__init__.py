"""The public GraphQL API. Knows the job system only through `actors.interface`."""
