from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetSpecRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EnvSpec(_message.Message):
    __slots__ = ("version", "domains", "splits", "exams", "tools", "default_options", "limits", "noise_presets", "personas", "replica_id")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    SPLITS_FIELD_NUMBER: _ClassVar[int]
    EXAMS_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    NOISE_PRESETS_FIELD_NUMBER: _ClassVar[int]
    PERSONAS_FIELD_NUMBER: _ClassVar[int]
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    version: str
    domains: _containers.RepeatedCompositeFieldContainer[DomainInfo]
    splits: _containers.RepeatedScalarFieldContainer[str]
    exams: _containers.RepeatedCompositeFieldContainer[ExamInfo]
    tools: _containers.RepeatedCompositeFieldContainer[ToolSchema]
    default_options: EpisodeOptions
    limits: Limits
    noise_presets: _containers.RepeatedScalarFieldContainer[str]
    personas: _containers.RepeatedScalarFieldContainer[str]
    replica_id: str
    def __init__(self, version: _Optional[str] = ..., domains: _Optional[_Iterable[_Union[DomainInfo, _Mapping]]] = ..., splits: _Optional[_Iterable[str]] = ..., exams: _Optional[_Iterable[_Union[ExamInfo, _Mapping]]] = ..., tools: _Optional[_Iterable[_Union[ToolSchema, _Mapping]]] = ..., default_options: _Optional[_Union[EpisodeOptions, _Mapping]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., noise_presets: _Optional[_Iterable[str]] = ..., personas: _Optional[_Iterable[str]] = ..., replica_id: _Optional[str] = ...) -> None: ...

class DomainInfo(_message.Message):
    __slots__ = ("name", "task_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    task_count: int
    def __init__(self, name: _Optional[str] = ..., task_count: _Optional[int] = ...) -> None: ...

class ExamInfo(_message.Message):
    __slots__ = ("id", "name", "kind", "cost_usd", "discomfort", "minutes")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    DISCOMFORT_FIELD_NUMBER: _ClassVar[int]
    MINUTES_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    kind: str
    cost_usd: float
    discomfort: int
    minutes: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ..., cost_usd: _Optional[float] = ..., discomfort: _Optional[int] = ..., minutes: _Optional[int] = ...) -> None: ...

class ToolSchema(_message.Message):
    __slots__ = ("name", "description", "parameters_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    parameters_json: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., parameters_json: _Optional[str] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_sessions", "max_text_bytes", "session_ttl_seconds", "max_top_k", "max_differential", "max_message_bytes", "max_sessions_per_client", "max_stream_in_flight")
    MAX_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_TEXT_BYTES_FIELD_NUMBER: _ClassVar[int]
    SESSION_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOP_K_FIELD_NUMBER: _ClassVar[int]
    MAX_DIFFERENTIAL_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_SESSIONS_PER_CLIENT_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAM_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    max_sessions: int
    max_text_bytes: int
    session_ttl_seconds: int
    max_top_k: int
    max_differential: int
    max_message_bytes: int
    max_sessions_per_client: int
    max_stream_in_flight: int
    def __init__(self, max_sessions: _Optional[int] = ..., max_text_bytes: _Optional[int] = ..., session_ttl_seconds: _Optional[int] = ..., max_top_k: _Optional[int] = ..., max_differential: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., max_sessions_per_client: _Optional[int] = ..., max_stream_in_flight: _Optional[int] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ("domain", "split", "page_size", "page_token")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    domain: str
    split: str
    page_size: int
    page_token: str
    def __init__(self, domain: _Optional[str] = ..., split: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ("tasks", "next_page_token", "total")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[TaskInfo]
    next_page_token: str
    total: int
    def __init__(self, tasks: _Optional[_Iterable[_Union[TaskInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class TaskInfo(_message.Message):
    __slots__ = ("task_id", "domain", "split", "difficulty")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    DIFFICULTY_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    domain: str
    split: str
    difficulty: int
    def __init__(self, task_id: _Optional[str] = ..., domain: _Optional[str] = ..., split: _Optional[str] = ..., difficulty: _Optional[int] = ...) -> None: ...

class ResetRequest(_message.Message):
    __slots__ = ("task_id", "domain", "split", "seed", "options")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    domain: str
    split: str
    seed: int
    options: EpisodeOptions
    def __init__(self, task_id: _Optional[str] = ..., domain: _Optional[str] = ..., split: _Optional[str] = ..., seed: _Optional[int] = ..., options: _Optional[_Union[EpisodeOptions, _Mapping]] = ...) -> None: ...

class EpisodeOptions(_message.Message):
    __slots__ = ("noise", "persona", "reward", "max_turns", "budget_usd")
    NOISE_FIELD_NUMBER: _ClassVar[int]
    PERSONA_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    MAX_TURNS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    noise: NoiseConfig
    persona: str
    reward: RewardWeights
    max_turns: int
    budget_usd: float
    def __init__(self, noise: _Optional[_Union[NoiseConfig, _Mapping]] = ..., persona: _Optional[str] = ..., reward: _Optional[_Union[RewardWeights, _Mapping]] = ..., max_turns: _Optional[int] = ..., budget_usd: _Optional[float] = ...) -> None: ...

class NoiseConfig(_message.Message):
    __slots__ = ("preset", "probabilities")
    class ProbabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    PRESET_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    preset: str
    probabilities: _containers.ScalarMap[str, float]
    def __init__(self, preset: _Optional[str] = ..., probabilities: _Optional[_Mapping[str, float]] = ...) -> None: ...

class RewardWeights(_message.Message):
    __slots__ = ("diagnosis", "differential", "exam_quality", "cost", "turn", "repeat", "invalid", "explicit", "information")
    DIAGNOSIS_FIELD_NUMBER: _ClassVar[int]
    DIFFERENTIAL_FIELD_NUMBER: _ClassVar[int]
    EXAM_QUALITY_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    REPEAT_FIELD_NUMBER: _ClassVar[int]
    INVALID_FIELD_NUMBER: _ClassVar[int]
    EXPLICIT_FIELD_NUMBER: _ClassVar[int]
    INFORMATION_FIELD_NUMBER: _ClassVar[int]
    diagnosis: float
    differential: float
    exam_quality: float
    cost: float
    turn: float
    repeat: float
    invalid: float
    explicit: bool
    information: float
    def __init__(self, diagnosis: _Optional[float] = ..., differential: _Optional[float] = ..., exam_quality: _Optional[float] = ..., cost: _Optional[float] = ..., turn: _Optional[float] = ..., repeat: _Optional[float] = ..., invalid: _Optional[float] = ..., explicit: bool = ..., information: _Optional[float] = ...) -> None: ...

class ResetResponse(_message.Message):
    __slots__ = ("session_id", "observation", "info")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    observation: Observation
    info: Info
    def __init__(self, session_id: _Optional[str] = ..., observation: _Optional[_Union[Observation, _Mapping]] = ..., info: _Optional[_Union[Info, _Mapping]] = ...) -> None: ...

class StepRequest(_message.Message):
    __slots__ = ("session_id", "action", "request_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    action: Action
    request_id: str
    def __init__(self, session_id: _Optional[str] = ..., action: _Optional[_Union[Action, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class Action(_message.Message):
    __slots__ = ("ask", "exam", "search", "diagnose", "text")
    ASK_FIELD_NUMBER: _ClassVar[int]
    EXAM_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ask: Ask
    exam: Exam
    search: Search
    diagnose: Diagnose
    text: str
    def __init__(self, ask: _Optional[_Union[Ask, _Mapping]] = ..., exam: _Optional[_Union[Exam, _Mapping]] = ..., search: _Optional[_Union[Search, _Mapping]] = ..., diagnose: _Optional[_Union[Diagnose, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class Ask(_message.Message):
    __slots__ = ("question", "finding_id")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    FINDING_ID_FIELD_NUMBER: _ClassVar[int]
    question: str
    finding_id: str
    def __init__(self, question: _Optional[str] = ..., finding_id: _Optional[str] = ...) -> None: ...

class Exam(_message.Message):
    __slots__ = ("exam_id", "site")
    EXAM_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    exam_id: str
    site: str
    def __init__(self, exam_id: _Optional[str] = ..., site: _Optional[str] = ...) -> None: ...

class Search(_message.Message):
    __slots__ = ("query", "top_k")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    query: str
    top_k: int
    def __init__(self, query: _Optional[str] = ..., top_k: _Optional[int] = ...) -> None: ...

class Diagnose(_message.Message):
    __slots__ = ("primary", "differential")
    PRIMARY_FIELD_NUMBER: _ClassVar[int]
    DIFFERENTIAL_FIELD_NUMBER: _ClassVar[int]
    primary: str
    differential: _containers.RepeatedCompositeFieldContainer[RankedDiagnosis]
    def __init__(self, primary: _Optional[str] = ..., differential: _Optional[_Iterable[_Union[RankedDiagnosis, _Mapping]]] = ...) -> None: ...

class RankedDiagnosis(_message.Message):
    __slots__ = ("name", "code", "probability")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    code: str
    probability: float
    def __init__(self, name: _Optional[str] = ..., code: _Optional[str] = ..., probability: _Optional[float] = ...) -> None: ...

class Observation(_message.Message):
    __slots__ = ("text", "turn", "cost_usd", "discomfort", "revealed_findings", "feedback", "denied_findings")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    DISCOMFORT_FIELD_NUMBER: _ClassVar[int]
    REVEALED_FINDINGS_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    DENIED_FINDINGS_FIELD_NUMBER: _ClassVar[int]
    text: str
    turn: int
    cost_usd: float
    discomfort: int
    revealed_findings: _containers.RepeatedScalarFieldContainer[str]
    feedback: Feedback
    denied_findings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, text: _Optional[str] = ..., turn: _Optional[int] = ..., cost_usd: _Optional[float] = ..., discomfort: _Optional[int] = ..., revealed_findings: _Optional[_Iterable[str]] = ..., feedback: _Optional[_Union[Feedback, _Mapping]] = ..., denied_findings: _Optional[_Iterable[str]] = ...) -> None: ...

class Feedback(_message.Message):
    __slots__ = ("valid", "message")
    VALID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    message: str
    def __init__(self, valid: bool = ..., message: _Optional[str] = ...) -> None: ...

class StepResponse(_message.Message):
    __slots__ = ("observation", "reward", "reward_components", "terminated", "truncated", "info")
    class RewardComponentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    REWARD_COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    TERMINATED_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    observation: Observation
    reward: float
    reward_components: _containers.ScalarMap[str, float]
    terminated: bool
    truncated: bool
    info: Info
    def __init__(self, observation: _Optional[_Union[Observation, _Mapping]] = ..., reward: _Optional[float] = ..., reward_components: _Optional[_Mapping[str, float]] = ..., terminated: bool = ..., truncated: bool = ..., info: _Optional[_Union[Info, _Mapping]] = ...) -> None: ...

class Info(_message.Message):
    __slots__ = ("task_id", "domain", "split", "seed", "episode_id", "truth", "totals", "autoreset", "truncation_reason", "noise_events")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    TRUTH_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    AUTORESET_FIELD_NUMBER: _ClassVar[int]
    TRUNCATION_REASON_FIELD_NUMBER: _ClassVar[int]
    NOISE_EVENTS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    domain: str
    split: str
    seed: int
    episode_id: str
    truth: Truth
    totals: EpisodeTotals
    autoreset: bool
    truncation_reason: str
    noise_events: _containers.RepeatedCompositeFieldContainer[NoiseEvent]
    def __init__(self, task_id: _Optional[str] = ..., domain: _Optional[str] = ..., split: _Optional[str] = ..., seed: _Optional[int] = ..., episode_id: _Optional[str] = ..., truth: _Optional[_Union[Truth, _Mapping]] = ..., totals: _Optional[_Union[EpisodeTotals, _Mapping]] = ..., autoreset: bool = ..., truncation_reason: _Optional[str] = ..., noise_events: _Optional[_Iterable[_Union[NoiseEvent, _Mapping]]] = ...) -> None: ...

class NoiseEvent(_message.Message):
    __slots__ = ("kind", "turn", "finding_id", "detail")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    FINDING_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    kind: str
    turn: int
    finding_id: str
    detail: str
    def __init__(self, kind: _Optional[str] = ..., turn: _Optional[int] = ..., finding_id: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class Truth(_message.Message):
    __slots__ = ("name", "code", "disease_id", "correct")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    DISEASE_ID_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    name: str
    code: str
    disease_id: str
    correct: bool
    def __init__(self, name: _Optional[str] = ..., code: _Optional[str] = ..., disease_id: _Optional[str] = ..., correct: bool = ...) -> None: ...

class EpisodeTotals(_message.Message):
    __slots__ = ("turns", "cost_usd", "discomfort", "total_reward")
    TURNS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    DISCOMFORT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_REWARD_FIELD_NUMBER: _ClassVar[int]
    turns: int
    cost_usd: float
    discomfort: int
    total_reward: float
    def __init__(self, turns: _Optional[int] = ..., cost_usd: _Optional[float] = ..., discomfort: _Optional[int] = ..., total_reward: _Optional[float] = ...) -> None: ...

class CloseRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class CloseResponse(_message.Message):
    __slots__ = ("episode_finished",)
    EPISODE_FINISHED_FIELD_NUMBER: _ClassVar[int]
    episode_finished: bool
    def __init__(self, episode_finished: bool = ...) -> None: ...

class GetTrajectoryRequest(_message.Message):
    __slots__ = ("session_id", "include_record")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_RECORD_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    include_record: bool
    def __init__(self, session_id: _Optional[str] = ..., include_record: bool = ...) -> None: ...

class Trajectory(_message.Message):
    __slots__ = ("episode_id", "task_id", "steps", "case", "initial_observation", "info", "noise_events", "record_json")
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    CASE_FIELD_NUMBER: _ClassVar[int]
    INITIAL_OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    NOISE_EVENTS_FIELD_NUMBER: _ClassVar[int]
    RECORD_JSON_FIELD_NUMBER: _ClassVar[int]
    episode_id: str
    task_id: str
    steps: _containers.RepeatedCompositeFieldContainer[TrajectoryStep]
    case: CaseInfo
    initial_observation: Observation
    info: Info
    noise_events: _containers.RepeatedCompositeFieldContainer[NoiseEvent]
    record_json: str
    def __init__(self, episode_id: _Optional[str] = ..., task_id: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[TrajectoryStep, _Mapping]]] = ..., case: _Optional[_Union[CaseInfo, _Mapping]] = ..., initial_observation: _Optional[_Union[Observation, _Mapping]] = ..., info: _Optional[_Union[Info, _Mapping]] = ..., noise_events: _Optional[_Iterable[_Union[NoiseEvent, _Mapping]]] = ..., record_json: _Optional[str] = ...) -> None: ...

class TrajectoryStep(_message.Message):
    __slots__ = ("action", "response")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    action: Action
    response: StepResponse
    def __init__(self, action: _Optional[_Union[Action, _Mapping]] = ..., response: _Optional[_Union[StepResponse, _Mapping]] = ...) -> None: ...

class CaseInfo(_message.Message):
    __slots__ = ("diagnosis_name", "diagnosis_code", "findings", "age", "sex")
    DIAGNOSIS_NAME_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_CODE_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    AGE_FIELD_NUMBER: _ClassVar[int]
    SEX_FIELD_NUMBER: _ClassVar[int]
    diagnosis_name: str
    diagnosis_code: str
    findings: _containers.RepeatedCompositeFieldContainer[CaseFinding]
    age: int
    sex: str
    def __init__(self, diagnosis_name: _Optional[str] = ..., diagnosis_code: _Optional[str] = ..., findings: _Optional[_Iterable[_Union[CaseFinding, _Mapping]]] = ..., age: _Optional[int] = ..., sex: _Optional[str] = ...) -> None: ...

class CaseFinding(_message.Message):
    __slots__ = ("id", "name", "kind")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    kind: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class BatchStepRequest(_message.Message):
    __slots__ = ("steps", "autoreset")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    AUTORESET_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[StepRequest]
    autoreset: bool
    def __init__(self, steps: _Optional[_Iterable[_Union[StepRequest, _Mapping]]] = ..., autoreset: bool = ...) -> None: ...

class BatchStepResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchStepResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchStepResult, _Mapping]]] = ...) -> None: ...

class BatchStepResult(_message.Message):
    __slots__ = ("response", "error")
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    response: StepResponse
    error: Status
    def __init__(self, response: _Optional[_Union[StepResponse, _Mapping]] = ..., error: _Optional[_Union[Status, _Mapping]] = ...) -> None: ...

class Status(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class EnvRequest(_message.Message):
    __slots__ = ("id", "reset", "step", "close")
    ID_FIELD_NUMBER: _ClassVar[int]
    RESET_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    id: int
    reset: ResetRequest
    step: StepRequest
    close: CloseRequest
    def __init__(self, id: _Optional[int] = ..., reset: _Optional[_Union[ResetRequest, _Mapping]] = ..., step: _Optional[_Union[StepRequest, _Mapping]] = ..., close: _Optional[_Union[CloseRequest, _Mapping]] = ...) -> None: ...

class EnvResponse(_message.Message):
    __slots__ = ("id", "reset", "step", "close", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    RESET_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: int
    reset: ResetResponse
    step: StepResponse
    close: CloseResponse
    error: Status
    def __init__(self, id: _Optional[int] = ..., reset: _Optional[_Union[ResetResponse, _Mapping]] = ..., step: _Optional[_Union[StepResponse, _Mapping]] = ..., close: _Optional[_Union[CloseResponse, _Mapping]] = ..., error: _Optional[_Union[Status, _Mapping]] = ...) -> None: ...
