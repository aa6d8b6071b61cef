"""A real Python Celery worker module for the chain test: the platform's rule-retriever
step, which stays Python. It returns the analysis together with the disposal rules,
the shape response_generator.generate accepts as its first argument."""

import os

from celery import Celery

app = Celery("rule_retriever", broker=os.environ["E2E_BROKER"], backend=os.environ["E2E_BACKEND"])
# Every worker in a chain routes the step after its own, so all share the routes.
app.conf.task_routes = {"gpt5_analyzer.*": {"queue": "gpt5-analyzer"},
                        "response_generator.*": {"queue": "response-generator"},
                        "rules.*": {"queue": "rule-retriever"}}


@app.task(name="rules.retrieve")
def retrieve(analysis, region="seoul"):
    category = analysis.get("overall_category", "general")
    return {"analysis": analysis,
            "rules": {"region": region, "category": category,
                      "steps": ["Empty and rinse the container",
                                "Remove labels and caps",
                                "Put it in the %s recycling bin" % category]}}
