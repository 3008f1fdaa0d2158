"""The web's side of the job system: submitting (with admission), following a task,
and the operators' overview."""
