# One image for every role (migrate, api, worker); docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md wsgi.py ./
COPY orders ./orders
COPY tasks ./tasks
COPY sql ./sql
RUN pip install --no-cache-dir -e .
USER nobody
EXPOSE 8000
CMD ["orders", "api", "--bind", "0.0.0.0:8000"]
