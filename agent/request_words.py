"""The words of a request: what each part of the workflow, each thing a person rules out and each kind of question
is called in plain English. agent/request.py reads a message with them; a new way of asking is added here."""

from __future__ import annotations

import re

WORKFLOW = "workflow"

# Constraint phrases: matched first, then cut out of the text so "don't train" never reads as "train".
NEG = r"(?:don'?t|do not|dont|no|never|without|not|w/o|skip(?:ping)?|avoid|no need to)"
CONSTRAINTS = (
    ("no_train", re.compile(rf"\b{NEG}\s+(?:\w+\s+){{0,2}}?(?:train(?:ing)?|tun(?:e|ing)|fine[- ]?tun(?:e|ing)|dpo|"
                            r"preference[- ]?tun(?:e|ing)|"
                            r"start(?:ing)?\s+(?:a\s+)?(?:tuning\s+)?job|creat(?:e|ing)\s+(?:a\s+)?job)\b"
                            r"(?:\s+(?:it|yet|"
                            r"anything|now))*|\bjust\s+(?:check|validate|look|verify|lint)\b|"
                            r"\bonly\s+(?:check|validate)\b"
                            r"|\bcheck[- ]only\b|\bdry[- ]run\b", re.I),
     frozenset({"create_tuning_job", "run_preference_job", "retune_job"})),
    ("no_upload", re.compile(rf"\b{NEG}\s+(?:\w+\s+){{0,2}}?upload(?:ing)?\b(?:\s+(?:it|anything|yet))*|\bkeep (?:it|"
                             r"everything|the data) (?:local|on this machine)\b|\bnothing leaves\b", re.I),
     frozenset({"upload_to_gcs", "create_tuning_job", "run_preference_job", "retune_job"})),
    ("no_spend", re.compile(rf"\b{NEG}\s+(?:\w+\s+){{0,2}}?(?:spend(?:ing)?|pay(?:ing)?|cost anything|bill(?:ing)?)\b"
                            r"(?:\s+(?:any(?:thing)?|money|a cent))*|\bfor free\b|\bfree only\b", re.I),
     frozenset({"create_tuning_job", "run_preference_job", "retune_job"})),
    ("stop_after_create", re.compile(r"\bstop (?:right )?(?:after|once|when) (?:the )?job (?:is )?(?:created|started|"
                                     rf"submitted)\b|\b{NEG}\s+(?:wait|watch|monitor)(?:ing)?\b(?:\s+(?:for )?"
                                     r"(?:it|the job))?|\bwithout waiting\b|\bjust start\b", re.I),
     frozenset({"poll_metrics", "choose_checkpoint", "compare_models", "test_endpoint"})),
    ("no_compare", re.compile(rf"\b{NEG}\s+(?:\w+\s+){{0,1}}?compar(?:e|ing|ison)\b(?:\s+(?:it|with the base))?|"
                              r"\bno comparison\b|\bskip the comparison\b", re.I),
     frozenset({"compare_models"})),
)

# What each part is called in plain words. Matched on the text with file paths and constraints cut out.
PART_WORDS: dict[str, re.Pattern[str]] = {k: re.compile(v, re.I) for k, v in {
    "help": r"^\W*(?:help|usage|hi|hello|hey|good (?:morning|afternoon|evening)|what can you do|"
            r"how do (?:i|you) use (?:this|you|gto|it)|what (?:can|do) i ask)\W*$",
    "thanks": r"^\W*(?:(?:thanks?|thank you|thx|ty|cheers)(?: (?:a lot|very much|so much))?|bye|goodbye|great,? thanks?)"
              r"\W*$",
    "delete": r"\b(?:delete|remove|purge|erase|clean up|get rid of)\b.{0,30}\b(?:jobs?|models?|endpoints?|runs?|"
              r"checkpoints?|workspace|history)\b",
    "spent": r"\b(?:(?:how much|what) (?:have|has|did) (?:i|we|it|this|that|my|the)\b.{0,25}?\b(?:spen[dt]|cost)|"
             r"spen[dt] so far|my (?:spend\w*|bill)|(?:show|see|list) (?:me )?(?:the |my )?(?:spend\w*|ledger|costs so "
             r"far)|total spend\w*|spending|ledger)\b",
    "budget": r"\b(?:(?:set|change|raise|lower|increase|decrease|put)\b.{0,15}\b(?:budget|spending limit)|(?:budget|"
              r"spending limit) (?:of|to|at)\b|max(?:imum)? spend|what(?:'s| is) (?:my|the) budget)",
    "data_help": r"\b(?:(?:what|which) (?:data |file )?format|data format|how (?:should|do) i (?:format|prepare|write)|"
                 r"how many (?:training )?examples|how much (?:training )?data|enough (?:training )?(?:examples|data)|"
                 r"minimum (?:number of )?examples)\b",
    "models": r"\b(?:(?:what|which) (?:base |gemini |tunable |tuned )?models|(?:list|show|see)(?: me)? (?:the |all |my )?"
              r"(?:base |tunable |available |supported |tuned |gemini )?models|models (?:can|could|do) i|(?:available|"
              r"tunable|supported|tuned) models|models? (?:are|is) (?:retir\w+|deprecated|available|tunable))\b",
    "environment": r"\b(?:set ?up|environment|env|pre-?flight|credentials|permissions|iam|quota|am i ready|"
                   r"ready to tune|can i tune)\b",
    "validate": r"\b(?:validat\w*|check\w*|verif\w*|lint|inspect|look (?:at|over)|problems?|errors?|issues|valid|"
                r"ready|well[- ]formed|sane|ok\b|okay)\b",
    "fix": r"\b(?:fix(?!ed)\w*|repair(?!ed)\w*|clean(?:\s*up)?|convert\w*|(?:remove|drop) (?:the )?duplicates|"
           r"dedup\w*)\b",
    "split": r"\b(?:split\w*|hold(?:ing)?[- ]?out|holdout)\b",
    "recommend": r"\b(?:recommend\w*|hyper-?param\w*|suggest\w*|which settings|what settings|how many epochs|"
                 r"learning rate should)\b",
    "estimate": r"\b(?:cost\w*|price\w*|pricing|estimat\w*|how much|expensive|cheap\w*|budget|how long (?:will|would|"
                r"does|might|could|should)|how much time)\b",
    "upload": r"\b(?:upload\w*|stage|staging|copy (?:it )?to (?:the )?bucket)\b",
    "start_job": r"\b(?:start|launch|kick(?:ing)? off|submit|create)\w*\b.{0,40}\b(?:job|tuning|run)\b",
    "status": r"\b(?:status|how(?:'s| is) (?:it|that|the job|my job|job)|progress|doing|where (?:is|are) we|state of|"
              r"how(?:'s| is| are)\b.{0,30}\b(?:going|coming along)|how long (?:did|has|have)\b|"
              r"what (?:base )?model (?:did|does|is)\b.{0,20}\b(?:it|job|use|using)|"
              r"(?:tell me (?:more )?about|details (?:of|about|on)) (?:it|that job|the job|my job|JOB)|"
              r"why did (?:it|that job|the job|my job|JOB) fail|what went wrong|what happened|"
              r"(?:has|have|is|did) (?:it|that job|the job|my job|JOB|(?:the |my )?(?:training|tuning)(?: job)?) "
              r"(?:finished|finish|done|completed?|ended|over)|finished (?:training|tuning) yet)\b",
    "watch": r"\b(?:watch\w*|monitor\w*|wait (?:for|until)|follow|keep an eye)\b",
    "health": r"\b(?:loss(?:es)?|(?:loss|learning|training) curves?|overfit\w*|anomal\w*|metrics|converg\w*|diverg\w*|"
              r"healthy|health)\b",
    "cancel": r"\b(?:cancel\w*|abort\w*|kill|stop\s+(?:it|that|the job|this job|job|my job)\b)",
    "resume": r"\b(?:resume|restart|pick up|continue)\s+(?:it|that|the|this|my)?\s*(?:killed |failed |stopped |crashed )?"
              r"(?:job|training|run)\b|\b(?:resume|restart) (?:job|it)\b",
    "retune": r"\b(?:re-?tun\w*|tune (?:it|that(?: job| one)?|this(?: job)?|JOB|my (?:old )?(?:job|model)) again|"
              r"(?:move|migrate|port) (?:it|that job|this job|JOB|my (?:old )?(?:job|tuned model)) (?:on)?to)\b",
    "checkpoints": r"\b(?:checkpoints?|best epoch|(?:which|what) epoch)\b",
    "compare": r"\b(?:compar\w* (?:it |the tuned model |them )?(?:with|to|against) (?:the )?base|tuned (?:vs\.?|versus|"
               r"against) base|base (?:vs\.?|versus) tuned|evaluat\w*|how good is|better than the base)\b",
    "endpoint": r"\b(?:endpoint|(?:test|try|ask|query|prompt) (?:it|(?:the|my) (?:(?:fine-?)?tuned |new )?model)|ping|"
                r"inference request)\b",
    "report": r"\b(?:report|write[- ]?up|document\w*|summary)\b",
    "compare_jobs": r"\b(?:compare (?:all )?(?:the |my |these |both )?(?:(?:last|latest|recent|newest) )?"
                    r"(?:two |three |four |five |\d+ )?(?:tuning )?(?:jobs|runs)|"
                    r"which (?:job|run) (?:was|is) (?:better|best)|"
                    r"which of (?:my|the|these|all) (?:tuning )?(?:jobs|runs)|"
                    r"compare\s+job\s+(?:and|with|to|vs\.?)\s+job)\b",
    "list_jobs": r"\b(?:(?:what|which) jobs|jobs (?:do i have|are there|are running)|"
                 r"(?:show|list|what are|see|which are)\s+(?:me\s+)?(?:all\s+)?(?:my\s+|the\s+)?(?:tuning\s+)?"
                 r"jobs|my jobs|jobs list|list jobs)\b",
    "serve": r"\b(?:serve|serving|host it|run (?:it|the model) locally|deploy\w*|"
             r"how (?:do|can) i (?:use|call|query) (?:it|my (?:tuned )?model|the (?:tuned )?model)|"
             r"call (?:it|my (?:tuned )?model|the (?:tuned )?model) from)\b",
    "preference": r"\b(?:preference[- ]?(?:tun\w*|optimi[sz]\w*|train\w*|job)|dpo)\b",
    WORKFLOW: r"\b(?:tune|tuning|fine[- ]?tun\w*|train|training|finetun\w*|whole (?:workflow|thing)|end[- ]to[- ]end|"
              r"full (?:run|workflow|pipeline)|"
              r"retrain|re-?tune)\b",
}.items()}
# Words close to these (typos such as "cancle", "valdiate") are read as them.
VOCABULARY = ("cancel", "validate", "estimate", "report", "status", "checkpoints", "compare", "upload",
               "recommend", "repair", "monitor", "endpoint", "environment", "preflight", "hyperparameters", "tune",
               "train", "split", "check", "watch", "retune", "retrain")
WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
JOB_ID = re.compile(r"\b(local-\d{8}-\d{6}-[0-9a-f]{6}|projects/[\w-]+/locations/[\w-]+/tuningJobs/\d+|\d{9,20})\b")
PRONOUN = re.compile(r"\b(?:it|that job|this job|the job|my job|that one|the last job|the latest job|that run|"
                      r"the run)\b", re.I)
PATH = re.compile(r"(?:gs://|[\w~./\\-]*/)?[\w~.\-]+\.jsonl\b|\"[^\"]+\.jsonl\"|'[^']+\.jsonl'", re.I)
# "train and validation", "the training set": names of data, not a request to train.
DATA_NOUNS = re.compile(r"\btrain(?:ing)?\s*(?:and|/|&)\s*(?:validation|val|test|eval)\b|\b(?:training|validation|"
                         r"train|val) (?:set|split|file|data|examples?|half)\b|\binto train\b", re.I)
BARE_BUCKET = re.compile(r"\b(?:bucket\s+(?:called\s+|named\s+)?|use\s+)(?:gs://)?([a-z0-9][a-z0-9._-]*[a-z0-9])"
                          r"(?=\s+(?:instead|bucket|from now)|\s*$|\s*[.,;!])", re.I)
# "what would tuning gemini-3.5-flash on data.jsonl cost?", "how long will training take?": a question, not a request.
COST_QUESTION = re.compile(r"\bhow much|\bwhat (?:would|will|does|did)\b[^?!]{0,80}?\bcost\b|\bcost of\b|"
                            r"\bprice of\b|\bestimat|\bhow long\b", re.I)
# "can I tune gemini-2.5-flash?", "is X still tunable?": a question about a model, not a request to tune it.
MODEL_QUESTION = re.compile(r"\b(?:can|could) (?:i|we) (?:still )?(?:tune|use)\b|\bis \S+ (?:still )?"
                             r"(?:tunable|retired|available)\b", re.I)
# "go on", "continue", "yes, do it": the previous request, again (after a stop, a question or --resume).
GO_ON = re.compile(r"\b(?:continue|go on|carry on|keep going|resume|proceed|go ahead|try again|again|retry|"
                    r"fixed|do it|yes|yep|sure)\b", re.I)
# The file a preference request names: "preference-tune on prefs.jsonl", "DPO with pairs.jsonl".
PREFERENCE_FILE = re.compile(r"\b(?:preference|dpo|prefs?)\b[\w\s-]{0,40}?"
                             r"(?P<path>(?:gs://)?[\w~./\\-]*[\w-]\.jsonl)\b", re.I)
# A quoted prompt after "with", "ask it" or a colon: 'test it with "What is 2+2?"', "ask the model: 'Hi'".
PROMPT = re.compile(r"""(?:\bwith|\bask(?:ing)?(?: it| the(?: tuned)? model)?|:)\s*(?:the )?(?:prompt |question )?"""
                     r"""(?:"([^"]+)"|“([^”]+)”|'(.+)'(?=\W*$))""", re.I)
# "is data.jsonl ready for tuning?", "does it look ok for training?", "can I use data.jsonl to fine-tune?": a question
# about the file, answered by checking it. ("Can you tune ...?" and "do a tuning run" are requests.)
CHECK_QUESTION = re.compile(r"^\W*(?:is|are|does|should|do(?!\s+(?:a|an|the|it|my|some|one)\b)|(?:can|could) (?:i|we)"
                             r" use|(?:will|would)\b(?!\s+you\b))", re.I)
PLACE_ONLY = re.compile(r"^\s*(?:please\s+)?(?:use|switch to|change to|set|go with|try)\b.*\b(?:instead|bucket|"
                         r"project|region|gs://)", re.I)


COUNT = re.compile(r"\b(?:last|latest|recent|newest)\s+(\d+|two|three|four|five)\b|\b(all)\b", re.I)
NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5}
# After the parts are read, what decides between tools: "use the best checkpoint" chooses one (and makes it the
# default) where "list the checkpoints" lists them; "how long will it take?" wants a time, not only a price.
BEST = re.compile(r"\b(?:best|choose|pick|select)\b", re.I)
MAKE_DEFAULT = re.compile(r"\b(?:use|choose|pick|select|switch to|make it|set)\b", re.I)
HOW_LONG = re.compile(r"\bhow long\b|\bhow much time\b", re.I)
