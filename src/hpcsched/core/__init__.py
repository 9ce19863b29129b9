"""Resources, job requests, the cluster, availability profiles and the job-table schema."""
