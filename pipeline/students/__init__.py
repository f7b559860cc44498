"""Student networks (log-mels -> embeddings), their registry, projection head and cost counters."""
from pipeline.students.base import Student
from pipeline.students.head import HeadOptions, ProjectionHead
from pipeline.students.macs import count_macs, count_params
from pipeline.students.pretrained import InitReport, load_init
from pipeline.students.registry import STUDENTS, build_student, student_options

__all__ = ["STUDENTS", "HeadOptions", "InitReport", "ProjectionHead", "Student", "build_student", "count_macs",
           "count_params", "load_init", "student_options"]
