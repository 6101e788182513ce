-- One database per subgraph (DESIGN.md: each subgraph owns its data). Runs once, when the
-- postgres container starts on an empty volume; each service applies its own migrations.
CREATE DATABASE users;
CREATE DATABASE tasks;
CREATE DATABASE notifications;
