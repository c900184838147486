"""Long work kept in a queue: a job per add_document too big to answer inline, polled with get_job."""
