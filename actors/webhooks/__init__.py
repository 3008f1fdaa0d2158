"""Signed webhooks: a task's changes POSTed to the submitter's URL, at least once.

The path of a delivery, one module each: `events` (which change is due to whom,
recorded in Redis), `payload` (the body, the GraphQL Task's fields), `signing`
(Standard Webhooks), `addresses` (which URLs may be called), `backoff`, `outbox`
(the due deliveries in Redis), `sender` (one HTTP attempt), `deliverer` (an
attempt and its bookkeeping, the Dramatiq actor's body) and `dispatcher` (hands
due deliveries to the `webhooks` queue).
"""
