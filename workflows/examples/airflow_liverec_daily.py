"""Airflow DAG calling the liverec CLI: one BashOperator per day. liverec runs the task DAG
itself (workflows/daily.toml), skips what is already done, and exits non-zero on failure,
so Airflow's retries simply resume the run. `{{ ds }}` is the logical date (the day whose
logs are complete)."""
import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(
    dag_id="liverec_daily",
    schedule="30 18 * * *",  # 02:30 in UTC+8
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=True,  # backfills run day by day, in order
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=15)},
) as dag:
    BashOperator(
        task_id="daily",
        bash_command=(
            "liverec workflow run daily --date {{ ds }} "
            "--input s3://logs/live --output /data/liverec "
            "--cluster df://scheduler.internal:50050"
        ),
        env={"LIVEREC_LOG": "info"},
        append_env=True,
    )
