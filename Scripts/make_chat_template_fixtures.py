#!/usr/bin/env python3
"""Writes the chat-template fixtures of Tests/ChatTemplatesTests (dev-time only; CI never runs Python).

For every real chat template below, renders a set of conversations with transformers'
`tokenizer.apply_chat_template(..., tokenize=False)` (through a throwaway tokenizer that carries the
model's bos/eos tokens, so the special-token variables, the None-dropping of message keys and the
`tools`/`documents` arguments are exactly those of the real call) and writes
`Tests/Fixtures/chat-templates/<template>.json`:

    {template_name, source, template, bos_token, eos_token,
     cases: [{name, messages, add_generation_prompt, extra, now?, expected | expected_error}]}

`now` (ISO local time) pins transformers' `strftime_now` (every case carries one); `expected_error` is
{type, message} of the exception transformers raises.

It also renders `jinja-cases.json`: small templates that pin down the Jinja semantics the Swift
interpreter must reproduce (whitespace control, trim_blocks/lstrip_blocks, scoping, filters, tests,
literals, errors), each rendered with transformers' own Jinja environment (`_compile_jinja_template`),
and `jinja-fuzz.json`: random templates (fixed seeds) rendered the same way.

Usage: python3 Scripts/make_chat_template_fixtures.py   (needs transformers, tokenizers, jinja2)

Where the template texts come from (transformers ships none of them and there is no Hub access here):
- Llama 3 (meta-llama/Meta-Llama-3-8B-Instruct), Llama 3.1 (meta-llama/Llama-3.1-8B-Instruct),
  Llama 3.2 (meta-llama/Llama-3.2-3B-Instruct), Qwen2 (Qwen/Qwen2-7B-Instruct) and
  Qwen2.5 (Qwen/Qwen2.5-3B-Instruct): the `chat_template` strings of those tokenizer_config.json
  files as vendored in github.com/openvinotoolkit/openvino.genai,
  tests/python_tests/data/tokenizer_configs.py (commit 6d90f5f9d5c8f724f4172494da66888e309333ad).
  The Llama 3 / 3.1 / 3.2 and Qwen2 texts are byte-identical to the GGUF copies in
  github.com/huggingface/huggingface.js, packages/ollama-utils/src/chat-template-automap.ts
  (commit 007948d5aac310316dd57b5d8e5c091e864418dc).
- SmolLM2 (HuggingFaceTB/SmolLM2-*-Instruct): huggingface.js chat-template-automap.ts, entry
  "library/smollm2:135m" (same commit); several independent copies agree (e.g. Rust tests that load
  the Hub's tokenizer_config.json of SmolLM2-135M-Instruct).
- Qwen2.5 GGUF variant: huggingface.js chat-template-automap.ts, entry "library/qwen2.5:0.5b": the
  Qwen2.5 template with `{{"name": ...}}` inside a string literal (a lexer trap).
- The plain pair-PM template is the seed's (REFERENCE.md §2).
- Gemma (google/gemma-2b-it, google/gemma-7b-it: one template), Mistral 7B Instruct v0.1 (the current
  file, = Mixtral-8x7B-Instruct-v0.1) and v0.3: the `chat_template` strings of those entries of
  openvino.genai's tokenizer_configs.py (same commit). Mistral v0.1 as first published (no system
  message, "[INST] " without a leading space): that file's entry TheBloke/Mistral-7B-Instruct-v0.1-GPTQ,
  a copy of the original tokenizer_config.json. Cross-checks against huggingface.js
  chat-template-automap.ts (same commit): Gemma's text is byte-identical to "library/gemma2:2b" (Gemma 2's
  GGUF), the first-published Mistral one to "library/mistral:7b-instruct-fp16", the current v0.1 one to
  "library/mixtral:8x7b". No vendored copy of Mistral-7B-Instruct-v0.2's own tokenizer_config.json was
  found, so no v0.2 fixture claims to be it (its model card describes the v0.1 format).
- Only the texts are copied; the bos/eos tokens are the models' own (<bos>/<eos>, <s>/</s>).
"""

import datetime as _datetime_module
import json
import pathlib
import sys

import transformers.utils.chat_template_utils as chat_template_utils
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

OUT_DIR = pathlib.Path(__file__).resolve().parents[1] / "Tests" / "Fixtures" / "chat-templates"

LLAMA_3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n"
    '\n'
    "'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n"
    '\n'
    "' }}{% endif %}"
)

LLAMA_3_1_TEMPLATE = (
    '{{- bos_token }}\n'
    '{%- if custom_tools is defined %}\n'
    '    {%- set tools = custom_tools %}\n'
    '{%- endif %}\n'
    '{%- if not tools_in_user_message is defined %}\n'
    '    {%- set tools_in_user_message = true %}\n'
    '{%- endif %}\n'
    '{%- if not date_string is defined %}\n'
    '    {%- set date_string = "26 Jul 2024" %}\n'
    '{%- endif %}\n'
    '{%- if not tools is defined %}\n'
    '    {%- set tools = none %}\n'
    '{%- endif %}\n'
    '\n'
    '{#- This block extracts the system message, so we can slot it into the right place. #}\n'
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    '    {%- set messages = messages[1:] %}\n'
    '{%- else %}\n'
    '    {%- set system_message = "" %}\n'
    '{%- endif %}\n'
    '\n'
    '{#- System message + builtin tools #}\n'
    '{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}\n'
    '{%- if builtin_tools is defined or tools is not none %}\n'
    '    {{- "Environment: ipython\\n" }}\n'
    '{%- endif %}\n'
    '{%- if builtin_tools is defined %}\n'
    '    {{- "Tools: " + builtin_tools | reject(\'equalto\', \'code_interpreter\') | join(", ") + "\\n\\n"}}\n'
    '{%- endif %}\n'
    '{{- "Cutting Knowledge Date: December 2023\\n" }}\n'
    '{{- "Today Date: " + date_string + "\\n\\n" }}\n'
    '{%- if tools is not none and not tools_in_user_message %}\n'
    '    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}\n'
    '    {{- \'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.\' }}\n'
    '    {{- "Do not use variables.\\n\\n" }}\n'
    '    {%- for t in tools %}\n'
    '        {{- t | tojson(indent=4) }}\n'
    '        {{- "\\n\\n" }}\n'
    '    {%- endfor %}\n'
    '{%- endif %}\n'
    '{{- system_message }}\n'
    '{{- "<|eot_id|>" }}\n'
    '\n'
    '{#- Custom tools are passed in a user message with some extra guidance #}\n'
    '{%- if tools_in_user_message and not tools is none %}\n'
    '    {#- Extract the first user message so we can plug it in here #}\n'
    '    {%- if messages | length != 0 %}\n'
    "        {%- set first_user_message = messages[0]['content']|trim %}\n"
    '        {%- set messages = messages[1:] %}\n'
    '    {%- else %}\n'
    '        {{- raise_exception("Cannot put tools in the first user message when there\'s no first user message!") }}\n'
    '{%- endif %}\n'
    "    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n"
    '    {{- "Given the following functions, please respond with a JSON for a function call " }}\n'
    '    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}\n'
    '    {{- \'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.\' }}\n'
    '    {{- "Do not use variables.\\n\\n" }}\n'
    '    {%- for t in tools %}\n'
    '        {{- t | tojson(indent=4) }}\n'
    '        {{- "\\n\\n" }}\n'
    '    {%- endfor %}\n'
    '    {{- first_user_message + "<|eot_id|>"}}\n'
    '{%- endif %}\n'
    '\n'
    '{%- for message in messages %}\n'
    "    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n"
    "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n"
    "    {%- elif 'tool_calls' in message %}\n"
    '        {%- if not message.tool_calls|length == 1 %}\n'
    '            {{- raise_exception("This model only supports single tool-calls at once!") }}\n'
    '        {%- endif %}\n'
    '        {%- set tool_call = message.tool_calls[0].function %}\n'
    '        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}\n'
    "            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    '            {{- "<|python_tag|>" + tool_call.name + ".call(" }}\n'
    '            {%- for arg_name, arg_val in tool_call.arguments | items %}\n'
    '                {{- arg_name + \'="\' + arg_val + \'"\' }}\n'
    '                {%- if not loop.last %}\n'
    '                    {{- ", " }}\n'
    '                {%- endif %}\n'
    '                {%- endfor %}\n'
    '            {{- ")" }}\n'
    '        {%- else  %}\n'
    "            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    '            {{- \'{"name": "\' + tool_call.name + \'", \' }}\n'
    '            {{- \'"parameters": \' }}\n'
    '            {{- tool_call.arguments | tojson }}\n'
    '            {{- "}" }}\n'
    '        {%- endif %}\n'
    '        {%- if builtin_tools is defined %}\n'
    "            {#- This means we're in ipython mode #}\n"
    '            {{- "<|eom_id|>" }}\n'
    '        {%- else %}\n'
    '            {{- "<|eot_id|>" }}\n'
    '        {%- endif %}\n'
    '    {%- elif message.role == "tool" or message.role == "ipython" %}\n'
    '        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}\n'
    '        {%- if message.content is mapping or message.content is iterable %}\n'
    '            {{- message.content | tojson }}\n'
    '        {%- else %}\n'
    '            {{- message.content }}\n'
    '        {%- endif %}\n'
    '        {{- "<|eot_id|>" }}\n'
    '    {%- endif %}\n'
    '{%- endfor %}\n'
    '{%- if add_generation_prompt %}\n'
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    '{%- endif %}\n'
)

LLAMA_3_2_TEMPLATE = (
    '{{- bos_token }}\n'
    '{%- if custom_tools is defined %}\n'
    '    {%- set tools = custom_tools %}\n'
    '{%- endif %}\n'
    '{%- if not tools_in_user_message is defined %}\n'
    '    {%- set tools_in_user_message = true %}\n'
    '{%- endif %}\n'
    '{%- if not date_string is defined %}\n'
    '    {%- if strftime_now is defined %}\n'
    '        {%- set date_string = strftime_now("%d %b %Y") %}\n'
    '    {%- else %}\n'
    '        {%- set date_string = "26 Jul 2024" %}\n'
    '    {%- endif %}\n'
    '{%- endif %}\n'
    '{%- if not tools is defined %}\n'
    '    {%- set tools = none %}\n'
    '{%- endif %}\n'
    '\n'
    '{#- This block extracts the system message, so we can slot it into the right place. #}\n'
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    '    {%- set messages = messages[1:] %}\n'
    '{%- else %}\n'
    '    {%- set system_message = "" %}\n'
    '{%- endif %}\n'
    '\n'
    '{#- System message #}\n'
    '{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}\n'
    '{%- if tools is not none %}\n'
    '    {{- "Environment: ipython\\n" }}\n'
    '{%- endif %}\n'
    '{{- "Cutting Knowledge Date: December 2023\\n" }}\n'
    '{{- "Today Date: " + date_string + "\\n\\n" }}\n'
    '{%- if tools is not none and not tools_in_user_message %}\n'
    '    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}\n'
    '    {{- \'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.\' }}\n'
    '    {{- "Do not use variables.\\n\\n" }}\n'
    '    {%- for t in tools %}\n'
    '        {{- t | tojson(indent=4) }}\n'
    '        {{- "\\n\\n" }}\n'
    '    {%- endfor %}\n'
    '{%- endif %}\n'
    '{{- system_message }}\n'
    '{{- "<|eot_id|>" }}\n'
    '\n'
    '{#- Custom tools are passed in a user message with some extra guidance #}\n'
    '{%- if tools_in_user_message and not tools is none %}\n'
    '    {#- Extract the first user message so we can plug it in here #}\n'
    '    {%- if messages | length != 0 %}\n'
    "        {%- set first_user_message = messages[0]['content']|trim %}\n"
    '        {%- set messages = messages[1:] %}\n'
    '    {%- else %}\n'
    '        {{- raise_exception("Cannot put tools in the first user message when there\'s no first user message!") }}\n'
    '{%- endif %}\n'
    "    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n"
    '    {{- "Given the following functions, please respond with a JSON for a function call " }}\n'
    '    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}\n'
    '    {{- \'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.\' }}\n'
    '    {{- "Do not use variables.\\n\\n" }}\n'
    '    {%- for t in tools %}\n'
    '        {{- t | tojson(indent=4) }}\n'
    '        {{- "\\n\\n" }}\n'
    '    {%- endfor %}\n'
    '    {{- first_user_message + "<|eot_id|>"}}\n'
    '{%- endif %}\n'
    '\n'
    '{%- for message in messages %}\n'
    "    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n"
    "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n"
    "    {%- elif 'tool_calls' in message %}\n"
    '        {%- if not message.tool_calls|length == 1 %}\n'
    '            {{- raise_exception("This model only supports single tool-calls at once!") }}\n'
    '        {%- endif %}\n'
    '        {%- set tool_call = message.tool_calls[0].function %}\n'
    "        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    '        {{- \'{"name": "\' + tool_call.name + \'", \' }}\n'
    '        {{- \'"parameters": \' }}\n'
    '        {{- tool_call.arguments | tojson }}\n'
    '        {{- "}" }}\n'
    '        {{- "<|eot_id|>" }}\n'
    '    {%- elif message.role == "tool" or message.role == "ipython" %}\n'
    '        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}\n'
    '        {%- if message.content is mapping or message.content is iterable %}\n'
    '            {{- message.content | tojson }}\n'
    '        {%- else %}\n'
    '            {{- message.content }}\n'
    '        {%- endif %}\n'
    '        {{- "<|eot_id|>" }}\n'
    '    {%- endif %}\n'
    '{%- endfor %}\n'
    '{%- if add_generation_prompt %}\n'
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    '{%- endif %}\n'
)

QWEN_2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    'You are a helpful assistant.<|im_end|>\n'
    "' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n"
    "' + message['content'] + '<|im_end|>' + '\n"
    "'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n"
    "' }}{% endif %}"
)

QWEN_2_5_TEMPLATE = (
    '{%- if tools %}\n'
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    '    {%- else %}\n'
    "        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n"
    '    {%- endif %}\n'
    '    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}\n'
    '    {%- for tool in tools %}\n'
    '        {{- "\\n" }}\n'
    '        {{- tool | tojson }}\n'
    '    {%- endfor %}\n'
    '    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}\n'
    '{%- else %}\n'
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    '    {%- else %}\n'
    "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
    '    {%- endif %}\n'
    '{%- endif %}\n'
    '{%- for message in messages %}\n'
    '    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}\n'
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    '    {%- elif message.role == "assistant" %}\n'
    "        {{- '<|im_start|>' + message.role }}\n"
    '        {%- if message.content %}\n'
    "            {{- '\\n' + message.content }}\n"
    '        {%- endif %}\n'
    '        {%- for tool_call in message.tool_calls %}\n'
    '            {%- if tool_call.function is defined %}\n'
    '                {%- set tool_call = tool_call.function %}\n'
    '            {%- endif %}\n'
    '            {{- \'\\n<tool_call>\\n{"name": "\' }}\n'
    '            {{- tool_call.name }}\n'
    '            {{- \'", "arguments": \' }}\n'
    '            {{- tool_call.arguments | tojson }}\n'
    "            {{- '}\\n</tool_call>' }}\n"
    '        {%- endfor %}\n'
    "        {{- '<|im_end|>\\n' }}\n"
    '    {%- elif message.role == "tool" %}\n'
    '        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}\n'
    "            {{- '<|im_start|>user' }}\n"
    '        {%- endif %}\n'
    "        {{- '\\n<tool_response>\\n' }}\n"
    '        {{- message.content }}\n'
    "        {{- '\\n</tool_response>' }}\n"
    '        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}\n'
    "            {{- '<|im_end|>\\n' }}\n"
    '        {%- endif %}\n'
    '    {%- endif %}\n'
    '{%- endfor %}\n'
    '{%- if add_generation_prompt %}\n'
    "    {{- '<|im_start|>assistant\\n' }}\n"
    '{%- endif %}\n'
)

QWEN_2_5_GGUF_TEMPLATE = (
    '{%- if tools %}\n'
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    '    {%- else %}\n'
    "        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n"
    '    {%- endif %}\n'
    '    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}\n'
    '    {%- for tool in tools %}\n'
    '        {{- "\\n" }}\n'
    '        {{- tool | tojson }}\n'
    '    {%- endfor %}\n'
    '    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}}\\n</tool_call><|im_end|>\\n" }}\n'
    '{%- else %}\n'
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    '    {%- else %}\n'
    "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
    '    {%- endif %}\n'
    '{%- endif %}\n'
    '{%- for message in messages %}\n'
    '    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}\n'
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    '    {%- elif message.role == "assistant" %}\n'
    "        {{- '<|im_start|>' + message.role }}\n"
    '        {%- if message.content %}\n'
    "            {{- '\\n' + message.content }}\n"
    '        {%- endif %}\n'
    '        {%- for tool_call in message.tool_calls %}\n'
    '            {%- if tool_call.function is defined %}\n'
    '                {%- set tool_call = tool_call.function %}\n'
    '            {%- endif %}\n'
    '            {{- \'\\n<tool_call>\\n{"name": "\' }}\n'
    '            {{- tool_call.name }}\n'
    '            {{- \'", "arguments": \' }}\n'
    '            {{- tool_call.arguments | tojson }}\n'
    "            {{- '}\\n</tool_call>' }}\n"
    '        {%- endfor %}\n'
    "        {{- '<|im_end|>\\n' }}\n"
    '    {%- elif message.role == "tool" %}\n'
    '        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}\n'
    "            {{- '<|im_start|>user' }}\n"
    '        {%- endif %}\n'
    "        {{- '\\n<tool_response>\\n' }}\n"
    '        {{- message.content }}\n'
    "        {{- '\\n</tool_response>' }}\n"
    '        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}\n'
    "            {{- '<|im_end|>\\n' }}\n"
    '        {%- endif %}\n'
    '    {%- endif %}\n'
    '{%- endfor %}\n'
    '{%- if add_generation_prompt %}\n'
    "    {{- '<|im_start|>assistant\\n' }}\n"
    '{%- endif %}\n'
)

SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    'You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n'
    "' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n"
    "' + message['content'] + '<|im_end|>' + '\n"
    "'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n"
    "' }}{% endif %}"
)

PAIR_PM_PLAIN_TEMPLATE = (
    "\n{% for message in messages %}{% if loop.index0 % 2 == 0 %}\n\n<turn> user\n {{ message['content'] }}"
    "{% else %}\n\n<turn> assistant\n {{ message['content'] }}{% endif %}{% endfor %}\n\n\n"
)

GEMMA_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n"
    "' + message['content'] | trim + '<end_of_turn>\n"
    "' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n"
    "'}}{% endif %}"
)

MISTRAL_V0_1_ORIGINAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

MISTRAL_V0_1_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content'] %}\n"
    '    {%- set loop_messages = messages[1:] %}\n'
    '{%- else %}\n'
    '    {%- set loop_messages = messages %}\n'
    '{%- endif %}\n'
    '\n'
    '{{- bos_token }}\n'
    '{%- for message in loop_messages %}\n'
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
    "        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}\n"
    '    {%- endif %}\n'
    "    {%- if message['role'] == 'user' %}\n"
    '        {%- if loop.first and system_message is defined %}\n'
    "            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n"
    '        {%- else %}\n'
    "            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n"
    '        {%- endif %}\n'
    "    {%- elif message['role'] == 'assistant' %}\n"
    "        {{- ' ' + message['content'] + eos_token}}\n"
    '    {%- else %}\n'
    "        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}\n"
    '    {%- endif %}\n'
    '{%- endfor %}\n'
)

MISTRAL_V0_3_TEMPLATE = (
    '{%- if messages[0]["role"] == "system" %}\n'
    '    {%- set system_message = messages[0]["content"] %}\n'
    '    {%- set loop_messages = messages[1:] %}\n'
    '{%- else %}\n'
    '    {%- set loop_messages = messages %}\n'
    '{%- endif %}\n'
    '{%- if not tools is defined %}\n'
    '    {%- set tools = none %}\n'
    '{%- endif %}\n'
    '{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}\n'
    '\n'
    '{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}\n'
    '{%- set ns = namespace() %}\n'
    '{%- set ns.index = 0 %}\n'
    '{%- for message in loop_messages %}\n'
    '    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}\n'
    '        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}\n'
    '            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}\n'
    '        {%- endif %}\n'
    '        {%- set ns.index = ns.index + 1 %}\n'
    '    {%- endif %}\n'
    '{%- endfor %}\n'
    '\n'
    '{{- bos_token }}\n'
    '{%- for message in loop_messages %}\n'
    '    {%- if message["role"] == "user" %}\n'
    '        {%- if tools is not none and (message == user_messages[-1]) %}\n'
    '            {{- "[AVAILABLE_TOOLS] [" }}\n'
    '            {%- for tool in tools %}\n'
    '                {%- set tool = tool.function %}\n'
    '                {{- \'{"type": "function", "function": {\' }}\n'
    '                {%- for key, val in tool.items() if key != "return" %}\n'
    '                    {%- if val is string %}\n'
    '                        {{- \'"\' + key + \'": "\' + val + \'"\' }}\n'
    '                    {%- else %}\n'
    '                        {{- \'"\' + key + \'": \' + val|tojson }}\n'
    '                    {%- endif %}\n'
    '                    {%- if not loop.last %}\n'
    '                        {{- ", " }}\n'
    '                    {%- endif %}\n'
    '                {%- endfor %}\n'
    '                {{- "}}" }}\n'
    '                {%- if not loop.last %}\n'
    '                    {{- ", " }}\n'
    '                {%- else %}\n'
    '                    {{- "]" }}\n'
    '                {%- endif %}\n'
    '            {%- endfor %}\n'
    '            {{- "[/AVAILABLE_TOOLS]" }}\n'
    '            {%- endif %}\n'
    '        {%- if loop.last and system_message is defined %}\n'
    '            {{- "[INST] " + system_message + "\\n\\n" + message["content"] + "[/INST]" }}\n'
    '        {%- else %}\n'
    '            {{- "[INST] " + message["content"] + "[/INST]" }}\n'
    '        {%- endif %}\n'
    '    {%- elif message.tool_calls is defined and message.tool_calls is not none %}\n'
    '        {{- "[TOOL_CALLS] [" }}\n'
    '        {%- for tool_call in message.tool_calls %}\n'
    '            {%- set out = tool_call.function|tojson %}\n'
    '            {{- out[:-1] }}\n'
    '            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}\n'
    '                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}\n'
    '            {%- endif %}\n'
    '            {{- \', "id": "\' + tool_call.id + \'"}\' }}\n'
    '            {%- if not loop.last %}\n'
    '                {{- ", " }}\n'
    '            {%- else %}\n'
    '                {{- "]" + eos_token }}\n'
    '            {%- endif %}\n'
    '        {%- endfor %}\n'
    '    {%- elif message["role"] == "assistant" %}\n'
    '        {{- " " + message["content"]|trim + eos_token}}\n'
    '    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}\n'
    '        {%- if message.content is defined and message.content.content is defined %}\n'
    '            {%- set content = message.content.content %}\n'
    '        {%- else %}\n'
    '            {%- set content = message.content %}\n'
    '        {%- endif %}\n'
    '        {{- \'[TOOL_RESULTS] {"content": \' + content|string + ", " }}\n'
    '        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}\n'
    '            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}\n'
    '        {%- endif %}\n'
    '        {{- \'"call_id": "\' + message.tool_call_id + \'"}[/TOOL_RESULTS]\' }}\n'
    '    {%- else %}\n'
    '        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}\n'
    '    {%- endif %}\n'
    '{%- endfor %}\n'
)

LLAMA_BOS, LLAMA_EOS = "<|begin_of_text|>", "<|eot_id|>"

TEMPLATES = {
    # name: (template, bos_token, eos_token, source)
    "llama-3": (LLAMA_3_TEMPLATE, LLAMA_BOS, LLAMA_EOS,
                "meta-llama/Meta-Llama-3-8B-Instruct via openvinotoolkit/openvino.genai tests/python_tests/data/tokenizer_configs.py"),
    "llama-3.1": (LLAMA_3_1_TEMPLATE, LLAMA_BOS, LLAMA_EOS,
                  "meta-llama/Llama-3.1-8B-Instruct via openvinotoolkit/openvino.genai tests/python_tests/data/tokenizer_configs.py"),
    "llama-3.2": (LLAMA_3_2_TEMPLATE, LLAMA_BOS, LLAMA_EOS,
                  "meta-llama/Llama-3.2-3B-Instruct via openvinotoolkit/openvino.genai tests/python_tests/data/tokenizer_configs.py"),
    "smollm2": (SMOLLM2_TEMPLATE, "<|im_start|>", "<|im_end|>",
                "HuggingFaceTB/SmolLM2-135M-Instruct via huggingface/huggingface.js packages/ollama-utils/src/chat-template-automap.ts"),
    "qwen2": (QWEN_2_TEMPLATE, None, "<|im_end|>",
              "Qwen/Qwen2-7B-Instruct via openvinotoolkit/openvino.genai tests/python_tests/data/tokenizer_configs.py"),
    "qwen2.5": (QWEN_2_5_TEMPLATE, None, "<|im_end|>",
                "Qwen/Qwen2.5-3B-Instruct via openvinotoolkit/openvino.genai tests/python_tests/data/tokenizer_configs.py"),
    "qwen2.5-gguf": (QWEN_2_5_GGUF_TEMPLATE, None, "<|im_end|>",
                     "library/qwen2.5:0.5b via huggingface/huggingface.js packages/ollama-utils/src/chat-template-automap.ts"),
    "pair-pm-plain": (PAIR_PM_PLAIN_TEMPLATE, LLAMA_BOS, LLAMA_EOS, "the seed's plain pair-PM context template (REFERENCE.md §2)"),
    "gemma": (GEMMA_TEMPLATE, "<bos>", "<eos>",
              "google/gemma-2b-it (= google/gemma-7b-it) via openvinotoolkit/openvino.genai tests/python_tests/data/tokenizer_configs.py;"
              " byte-identical to library/gemma2:2b in huggingface/huggingface.js packages/ollama-utils/src/chat-template-automap.ts"),
    "mistral-v0.1-original": (MISTRAL_V0_1_ORIGINAL_TEMPLATE, "<s>", "</s>",
                              "mistralai/Mistral-7B-Instruct-v0.1 as first published, via openvinotoolkit/openvino.genai"
                              " tests/python_tests/data/tokenizer_configs.py (entry TheBloke/Mistral-7B-Instruct-v0.1-GPTQ);"
                              " byte-identical to library/mistral:7b-instruct-fp16 in huggingface/huggingface.js"
                              " packages/ollama-utils/src/chat-template-automap.ts"),
    "mistral-v0.1": (MISTRAL_V0_1_TEMPLATE, "<s>", "</s>",
                     "mistralai/Mistral-7B-Instruct-v0.1 (= mistralai/Mixtral-8x7B-Instruct-v0.1) via openvinotoolkit/openvino.genai"
                     " tests/python_tests/data/tokenizer_configs.py; byte-identical to library/mixtral:8x7b in"
                     " huggingface/huggingface.js packages/ollama-utils/src/chat-template-automap.ts"),
    "mistral-v0.3": (MISTRAL_V0_3_TEMPLATE, "<s>", "</s>",
                     "mistralai/Mistral-7B-Instruct-v0.3 via openvinotoolkit/openvino.genai tests/python_tests/data/tokenizer_configs.py"),
}

# ---------------------------------------------------------------- conversations

EXOTIC_SPACE = "\u3000\u0085\u00a0\u2028\u001c\u001d\u001e\u001f\t\n \u2029\u202f\u205f\u1680\u2000\u200a"

SIMPLE = [{"role": "user", "content": "Hello!"}]
MULTI_TURN = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "What is 2 + 2?"},
    {"role": "assistant", "content": "4."},
    {"role": "user", "content": "And 3 + 3?"},
]
NO_SYSTEM_MULTI = [
    {"role": "user", "content": "Name a colour."},
    {"role": "assistant", "content": "Blue."},
    {"role": "user", "content": "Another one?"},
    {"role": "assistant", "content": "Green."},
]
UNICODE = [
    {"role": "system", "content": "Réponds en français, s'il te plaît. 🇫🇷"},
    {"role": "user", "content": "Grüße aus Köln! 你好，世界 👋🏽 — “quotes” ‘single’ e\u0301 ﬁ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 مرحبا"},
    {"role": "assistant", "content": "Bonjour ! 😀 <b>&amp;</b> \\n is not a newline, \"quoted\" {braces} {{ not jinja }}"},
    {"role": "user", "content": "Zero\u200bwidth\ufeffBOM and a tab\there"},
]
WHITESPACE = [
    {"role": "system", "content": "  \n System with spaces around.\n\n  "},
    {"role": "user", "content": EXOTIC_SPACE + "exotic whitespace both sides" + EXOTIC_SPACE},
    {"role": "assistant", "content": "\u3000ideographic space\u3000"},
    {"role": "user", "content": "\u0085next line\u0085 and \u00a0nbsp\u00a0 and \u200bzwsp\u200b"},
    {"role": "assistant", "content": "   "},
    {"role": "user", "content": ""},
]
NOT_ALTERNATING = [
    {"role": "user", "content": "first"},
    {"role": "user", "content": "second"},
    {"role": "system", "content": "late system"},
    {"role": "assistant", "content": "reply"},
    {"role": "assistant", "content": "another reply"},
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location — Température actuelle",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and country, e.g. San Francisco, USA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 14, "default": 1},
                "threshold": {"type": "number", "default": 0.5},
                "details": {"type": "boolean", "default": False},
                "tags": {"type": "array", "items": {"type": "string"}},
                "nothing": {"type": "null", "default": None},
            },
            "required": ["location"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "description": "Current time.", "parameters": {"type": "object", "properties": {}}},
}

TOOL_CALL_CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant with tool calling capabilities."},
    {"role": "user", "content": "What's the weather in Paris? Réponds vite."},
    {"role": "assistant", "content": None, "tool_calls": [
        {"type": "function", "function": {"name": "get_current_weather",
                                          "arguments": {"location": "Paris, France", "unit": "celsius"}}}]},
    {"role": "tool", "content": {"temperature": 21.5, "condition": "ensoleillé ☀️", "humidity": 40}},
    {"role": "ipython", "content": "plain string tool output"},
    {"role": "assistant", "content": "It is 21.5 °C and sunny in Paris."},
    {"role": "user", "content": "Thanks!"},
]

QWEN_TOOL_CONVERSATION = [
    {"role": "system", "content": "You are a weather bot."},
    {"role": "user", "content": "Weather in Paris and the time?"},
    {"role": "assistant", "content": "Let me check.", "tool_calls": [
        {"type": "function", "function": {"name": "get_current_weather",
                                          "arguments": {"location": "Paris, France", "unit": "celsius"}}},
        {"type": "function", "function": {"name": "get_time", "arguments": "{\"tz\": \"CET\"}"}}]},
    {"role": "tool", "content": "{\"temperature\": 21.5}"},
    {"role": "tool", "content": "12:00 CET"},
    {"role": "assistant", "content": None, "tool_calls": [{"name": "get_time", "arguments": {}}]},
    {"role": "tool", "content": "12:01 CET"},
    {"role": "assistant", "content": "21.5 °C, 12:01."},
]

TWO_TOOL_CALLS = [
    {"role": "user", "content": "Do two things."},
    {"role": "assistant", "tool_calls": [
        {"type": "function", "function": {"name": "get_time", "arguments": {}}},
        {"type": "function", "function": {"name": "get_time", "arguments": {}}}]},
]

BUILTIN_TOOL_CALL = [
    {"role": "system", "content": "Use tools."},
    {"role": "user", "content": "Search the web for Swift 6."},
    {"role": "assistant", "tool_calls": [
        {"type": "function", "function": {"name": "brave_search", "arguments": {"query": "Swift 6", "lang": "en"}}}]},
    {"role": "ipython", "content": "results…"},
]

FIXED_DATE = "05 Sep 2024"
NOW = "2024-09-05T10:11:12"


def both(name, messages, extra=None, now=None):
    """The same conversation with and without the generation prompt."""
    return [
        dict(name=name + "/gen", messages=messages, add_generation_prompt=True, extra=extra or {}, now=now),
        dict(name=name + "/nogen", messages=messages, add_generation_prompt=False, extra=extra or {}, now=now),
    ]


def common_cases():
    return (both("simple", SIMPLE) + both("multi-turn", MULTI_TURN) + both("no-system", NO_SYSTEM_MULTI)
            + both("unicode", UNICODE) + both("whitespace", WHITESPACE) + both("not-alternating", NOT_ALTERNATING))


def llama31_cases(is_3_2):
    cases = common_cases()
    tools = [WEATHER_TOOL, TIME_TOOL]
    cases += both("tools-in-user-message", TOOL_CALL_CONVERSATION, {"tools": tools, "date_string": FIXED_DATE})
    cases += both("tools-in-system", TOOL_CALL_CONVERSATION,
                  {"tools": tools, "date_string": FIXED_DATE, "tools_in_user_message": False})
    cases += both("custom-tools", MULTI_TURN, {"custom_tools": [TIME_TOOL], "date_string": FIXED_DATE})
    cases += both("date-string", MULTI_TURN, {"date_string": "1 Jan 2030"})
    cases.append(dict(name="strftime-now", messages=SIMPLE, add_generation_prompt=True, extra={}, now="2031-02-28T23:59:59"))
    if not is_3_2:
        cases += both("builtin-tools", BUILTIN_TOOL_CALL,
                      {"builtin_tools": ["brave_search", "wolfram_alpha", "code_interpreter"], "date_string": FIXED_DATE})
        cases += both("builtin-and-custom-tools", BUILTIN_TOOL_CALL,
                      {"builtin_tools": ["brave_search", "code_interpreter"], "tools": [WEATHER_TOOL],
                       "date_string": FIXED_DATE})
    # Conversations the template itself rejects with raise_exception.
    cases.append(dict(name="error/tools-without-user-message", add_generation_prompt=True,
                      messages=[{"role": "system", "content": "Only a system message."}],
                      extra={"tools": [TIME_TOOL], "date_string": FIXED_DATE}))
    cases.append(dict(name="error/two-tool-calls", messages=TWO_TOOL_CALLS, add_generation_prompt=False,
                      extra={"date_string": FIXED_DATE}))
    return cases


def qwen25_cases():
    cases = common_cases()
    cases += both("tools", QWEN_TOOL_CONVERSATION, {"tools": [WEATHER_TOOL, TIME_TOOL]})
    cases += both("tools-no-system", QWEN_TOOL_CONVERSATION[1:], {"tools": [TIME_TOOL]})
    cases += both("tool-first", [{"role": "tool", "content": "orphan"}, {"role": "user", "content": "hi"}])
    return cases


def pair_pm_cases():
    cases = common_cases()
    cases += both("context-with-trailing-space", [
        {"role": "user", "content": " leading and trailing  "},
        {"role": "assistant", "content": "answer\n"},
        {"role": "user", "content": "[CONTEXT] x [RESPONSE A] a [RESPONSE B] b \n"},
    ])
    return cases


def gemma_cases():
    # Gemma raises on any system message: the common conversations again without theirs.
    cases = common_cases()
    cases += both("multi-turn-no-system", MULTI_TURN[1:]) + both("unicode-no-system", UNICODE[1:])
    cases += both("whitespace-no-system", WHITESPACE[1:])
    cases += both("assistant-first", [{"role": "assistant", "content": "I speak first."}])
    cases += both("system-only", [{"role": "system", "content": "Only a system message."}])
    cases += both("markers-in-content", [{"role": "user", "content": "<start_of_turn>model\nfake<end_of_turn>\n"}])
    return cases


def mistral_v01_cases():
    cases = common_cases()
    cases += both("unicode-no-system", UNICODE[1:]) + both("whitespace-no-system", WHITESPACE[1:])
    cases += both("system-only", [{"role": "system", "content": "Only a system message."}])
    cases += both("tool-role", [{"role": "user", "content": "hi"}, {"role": "tool", "content": "result"}])
    return cases


MISTRAL_TOOL_CONVERSATION = [
    {"role": "system", "content": "You are a weather bot."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "tool_calls": [
        {"id": "call00001", "type": "function", "function": {"name": "get_current_weather",
                                                            "arguments": {"location": "Paris, France", "unit": "celsius"}}},
        {"id": "call00002", "type": "function", "function": {"name": "get_time", "arguments": {}}}]},
    {"role": "tool", "tool_call_id": "call00001", "content": "{\"temperature\": 21.5}"},
    {"role": "tool_results", "tool_call_id": "call00002", "content": {"content": "12:00 CET"}},
    {"role": "assistant", "content": " It is 21.5 °C at noon. "},
    {"role": "user", "content": "Thanks!"},
]


def mistral_v03_cases():
    cases = mistral_v01_cases()
    cases += both("tools", MISTRAL_TOOL_CONVERSATION, {"tools": [WEATHER_TOOL, TIME_TOOL]})
    cases += both("tools-no-system", MISTRAL_TOOL_CONVERSATION[1:], {"tools": [TIME_TOOL]})
    cases += both("tool-calls-without-tools", MISTRAL_TOOL_CONVERSATION)
    bad_id = [dict(m) for m in MISTRAL_TOOL_CONVERSATION[1:3]]
    bad_id[1]["tool_calls"] = [{"id": "short", "type": "function", "function": {"name": "get_time", "arguments": {}}}]
    cases.append(dict(name="error/tool-call-id", messages=bad_id, add_generation_prompt=False, extra={}))
    cases.append(dict(name="error/tool-result-id", add_generation_prompt=False, extra={},
                      messages=[{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "1234", "content": "r"}]))
    return cases


CASES = {
    "llama-3": common_cases,
    "llama-3.1": lambda: llama31_cases(False),
    "llama-3.2": lambda: llama31_cases(True),
    "smollm2": lambda: common_cases() + both("extra-context-ignored", SIMPLE, {"unused_variable": [1, 2, 3]}),
    "qwen2": common_cases,
    "qwen2.5": qwen25_cases,
    "qwen2.5-gguf": qwen25_cases,
    "pair-pm-plain": pair_pm_cases,
    "gemma": gemma_cases,
    "mistral-v0.1-original": mistral_v01_cases,
    "mistral-v0.1": mistral_v01_cases,
    "mistral-v0.3": mistral_v03_cases,
}


class _PinnedDatetime(_datetime_module.datetime):
    pinned = None

    @classmethod
    def now(cls, tz=None):
        return cls.pinned if cls.pinned is not None else super().now(tz)


def make_tokenizer(template, bos, eos):
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")),
        **({"bos_token": bos} if bos is not None else {}),
        **({"eos_token": eos} if eos is not None else {}),
    )
    tok.chat_template = template
    return tok


def render_case(tok, case):
    """Renders one case as transformers does; returns the fixture record."""
    extra = dict(case["extra"])
    tools = extra.pop("tools", None)
    chat_template_utils.datetime = _PinnedDatetime
    now = case.get("now") or NOW  # Llama 3.2 calls strftime_now whenever date_string is not given
    _PinnedDatetime.pinned = _datetime_module.datetime.fromisoformat(now)
    record = {"name": case["name"], "messages": case["messages"], "add_generation_prompt": case["add_generation_prompt"],
              "extra": case["extra"], "now": now}
    try:
        record["expected"] = tok.apply_chat_template(case["messages"], tools=tools, tokenize=False,
                                                     add_generation_prompt=case["add_generation_prompt"], **extra)
    except Exception as error:  # the fixture records what transformers raised
        record["expected_error"] = {"type": type(error).__name__, "message": str(error)}
    finally:
        _PinnedDatetime.pinned = None
    return record

# ---------------------------------------------------------------- interpreter semantics

MSGS = [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]

JINJA_CASES = [
    # --- whitespace: trim_blocks, lstrip_blocks, explicit control, trailing newline
    ("trailing-newline-dropped", "a\n", {}),
    ("only-one-trailing-newline-dropped", "a\n\n", {}),
    ("crlf-normalised", "a\r\nb\rc\r\n", {}),
    ("trim-blocks-after-block", "{% if true %}\nyes\n{% endif %}\nafter", {}),
    ("trim-blocks-not-after-variable", "{{ 'x' }}\ny", {}),
    ("trim-blocks-after-comment", "{# c #}\nz", {}),
    ("lstrip-blocks-indented-tags", "  {% if true %}\n    body\n  {% endif %}\nend", {}),
    ("lstrip-blocks-not-for-variables", "  {{ 'v' }}\n", {}),
    ("lstrip-blocks-text-before-tag", "x {% if true %}y{% endif %}", {}),
    ("lstrip-blocks-tabs", "\t \t{% for i in [1,2] %}\n\t{{ i }}\n\t{% endfor %}\n", {}),
    ("lstrip-blocks-comment", "  {# note #}\nkept", {}),
    ("lstrip-blocks-first-line", "   {% if true %}a{% endif %}", {}),
    ("lstrip-blocks-after-variable-same-line", "{{ 'a' }}   {% if true %}b{% endif %}", {}),
    ("lstrip-blocks-exotic-space", "\u3000\u00a0{% if true %}a{% endif %}", {}),
    ("plus-disables-lstrip", "  {%+ if true %}a{% endif %}", {}),
    ("plus-disables-trim", "{% if true +%}\na{% endif %}", {}),
    ("minus-strips-before", "a  \n  {%- if true %}b{% endif %}", {}),
    ("minus-strips-after", "{% if true -%}  \n\n  b{% endif %}", {}),
    ("minus-on-variables", "a \n {{- 'b' -}} \n c", {}),
    ("minus-on-comments", "a \n {#- x -#} \n c", {}),
    ("minus-strips-exotic-space", "a\u3000\u0085{{- 'b' -}}\u2028\u00a0c", {}),
    ("minus-strips-then-lstrip", "x\n  {%- if true %}\n  y\n  {%- endif %}\nz", {}),
    ("raw-block", "{% raw %}{{ not parsed }}{% if %}{% endraw %}!", {}),
    ("raw-block-whitespace", "  {% raw -%}  \n {{x}}  {%- endraw %}\nq", {}),
    ("comment-with-tags-inside", "a{# {{ x }} {% if %} #}b", {}),
    ("braces-in-variable", "{{ {'a': {'b': 1}} }}", {}),
    ("string-with-close-tag", "{{ '}}' ~ \"%}\" }}{% if '%}' %}ok{% endif %}", {}),
    ("data-with-single-brace", "{ a } {{ '{' }} %} }}", {}),
    ("pair-pm-literal", "\n{% for message in messages %}{% if loop.index0 % 2 == 0 %}\n\n<turn> user\n {{ message['content'] }}{% else %}\n\n<turn> assistant\n {{ message['content'] }}{% endif %}{% endfor %}\n\n\n", {"messages": MSGS}),
    # --- literals and escapes
    ("string-escapes", r"""{{ 'a\nb\tc\\d\'e\"f' }}|{{ "\x41\u00e9\U0001F600\101\q\a\b\f\v\0" }}|{{ 'line \
continued' }}|{{ 'é\n' }}""", {}),
    ("string-adjacent-concat", "{{ 'a' 'b' \"c\" }}", {}),
    ("integers", "{{ 0 }} {{ 42 }} {{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ -7 }}", {}),
    ("floats", "{{ 1.5 }} {{ 1e3 }} {{ 2.5E-3 }} {{ 1_0.2_5 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 1e-5 }} {{ 0.0001 }} {{ 123456789.123456789 }} {{ -0.0 }} {{ 3.0 }}", {}),
    ("float-repr-large", "{{ 1.7976931348623157e308 }} {{ 5e-324 }} {{ 2.0 ** 60 }} {{ 1/3 }} {{ 10/4 }}", {}),
    ("booleans-and-none", "{{ true }} {{ True }} {{ false }} {{ False }} {{ none }} {{ None }}", {}),
    ("list-and-dict-repr", "{{ [1, 'a', none, true, 2.5, [], {}] }} {{ {'k': 'v', 'n': [1]} }} {{ (1, 'x') }}", {}),
    ("repr-quotes", """{{ ["it's", 'say "hi"', 'both \\' "', '\\\\', '\\x00\\x1f\\x7f\\x85\\xa0\\u3000\\u2028\\u200b\\ufeff\\U0001F600é'] }}""", {}),
    ("context-value-repr", "{{ x }} {{ y }} {{ z }}", {"x": {"a": [1, 2.0, None, True]}, "y": [{"role": "user"}], "z": 7.25}),
    # --- expressions
    ("arithmetic", "{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 6 / 3 }}", {}),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ 10 - 2 - 3 }} {{ 'a' ~ 1 * 2 }} {{ (1 + 2) ~ 'a' }} {{ not true or true }} {{ not (true or true) }}", {}),
    ("bool-arithmetic", "{{ true + 1 }} {{ true == 1 }} {{ 1 == 1.0 }} {{ false * 3 }}", {}),
    ("string-ops", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 3 * 'x' }} {{ 'a' ~ 1 ~ none ~ true ~ 2.0 }} {{ [1] + [2, 3] }} {{ [0] * 3 }}", {}),
    ("comparisons", "{{ 1 < 2 }} {{ 2 <= 2 }} {{ 'a' < 'b' }} {{ 'B' < 'a' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1 }} {{ 'a' != 'a' }} {{ none == none }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ [1] == [1] }} {{ {'a': 1} == {'a': 1} }}", {}),
    ("and-or-return-operands", "{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ none or [] }}|{{ 1 and 0 }}", {}),
    ("in-operator", "{{ 'a' in 'cat' }} {{ 'z' not in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'v' in {'k': 'v'} }} {{ 'role' in m }} {{ 'tool_calls' in m }}", {"m": {"role": "user"}}),
    ("ternary", "{{ 'y' if true else 'n' }}|{{ 'y' if false else 'n' }}|{{ 'y' if false }}|{{ 'a' if false else 'b' if true else 'c' }}", {}),
    ("attribute-and-subscript", "{{ m.role }} {{ m['role'] }} {{ m.missing }}|{{ l[0] }} {{ l[-1] }} {{ l[5] }}|{{ s[0] }} {{ s[-1] }} {{ l.0 }}", {"m": {"role": "user"}, "l": [1, 2, 3], "s": "héllo"}),
    ("slicing", "{{ l[1:] }} {{ l[:-1] }} {{ l[::2] }} {{ l[::-1] }} {{ l[-2:] }} {{ l[1:2] }} {{ l[5:] }} {{ s[1:3] }} {{ s[::-1] }}", {"l": [1, 2, 3, 4], "s": "abc😀e"}),
    ("dict-methods", "{{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list }} {{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 9) }}", {"d": {"a": 1, "b": 2}}),
    ("dict-method-shadows-key", "{{ d.items is defined }} {{ d['items'] }} {{ d.get('items') }}", {"d": {"items": "key"}}),
    ("string-methods", "{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  x '.lstrip() }}|{{ ' x  '.rstrip() }}|{{ 'abc'.startswith('a') }} {{ 'abc'.endswith(('x', 'c')) }}|{{ 'a,b,,c'.split(',') }} {{ ' a  b \\n'.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a b c'.rsplit(' ', 1) }}|{{ 'ab'.upper() }} {{ 'AB'.lower() }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }}|{{ 'aXbX'.replace('X', '-') }} {{ 'abcb'.find('b') }} {{ 'abcb'.rfind('b') }} {{ 'abcb'.count('b') }} {{ '-'.join(['a', 'b']) }}|{{ '12'.isdigit() }} {{ 'a1'.isalpha() }} {{ ' \\t'.isspace() }}", {}),
    ("string-method-exotic-strip", "[{{ s.strip() }}] [{{ s.split()|join('|') }}]", {"s": "\u3000\u0085 a\u00a0b \u2028\u001c"}),
    # --- statements
    ("for-loop-variables", "{% for x in ['a', 'b', 'c'] %}{{ loop.index0 }}{{ loop.index }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('x', 'y') }};{% endfor %}", {}),
    ("for-else", "{% for x in [] %}{{ x }}{% else %}empty{% endfor %}|{% for x in [1] %}{{ x }}{% else %}empty{% endfor %}", {}),
    ("for-filter", "{% for x in range(10) if x % 3 == 0 %}{{ x }}{{ loop.length }}{{ loop.last }},{% endfor %}", {}),
    ("for-unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %}{% for k, v in d|items %}{{ k }}{% endfor %}", {"d": {"x": 1, "y": 2}}),
    ("for-over-dict-and-string", "{% for k in d %}{{ k }}{% endfor %}|{% for c in 'hé😀' %}[{{ c }}]{% endfor %}", {"d": {"x": 1, "y": 2}}),
    ("for-nested-loop", "{% for a in [1, 2] %}{% for b in [3, 4] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("for-break-continue", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("for-undefined-iterable", "{% for x in nothing %}{{ x }}{% else %}none{% endfor %}", {}),
    ("if-elif-else", "{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %} {% endfor %}", {}),
    ("set-scoping-loop", "{% set x = 'outer' %}{% for i in range(3) %}{% if i == 0 %}{% set x = 'inner' %}{% endif %}[{{ x }}]{% endfor %}{{ x }}", {}),
    ("set-read-before-local", "{% for i in [1, 2] %}{{ x }}{% set x = 1 %}{{ x }}{% endfor %}", {"x": 5}),
    ("set-in-if-top-level", "{{ x }}{% if true %}{% set x = 2 %}{% endif %}{{ x }}", {"x": 5}),
    ("set-overrides-context", "{% set messages = messages[1:] %}{{ messages|length }}{% for m in messages %}{{ m.role }}{% endfor %}", {"messages": MSGS}),
    ("set-tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 1, 2 %}{{ t }}", {}),
    ("set-block", "{% set body %}\n  x {{ 1 + 1 }}\n{% endset %}[{{ body }}]{% set up | upper %}abc{% endset %}{{ up }}", {}),
    ("namespace", "{% set ns = namespace(found=false, count=0, items=[]) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.found = true %}{% endif %}{% set ns.count = ns.count + 1 %}{% endfor %}{{ ns.found }} {{ ns.count }} {{ ns.items }}", {"messages": MSGS}),
    ("namespace-from-dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns.c is defined }}", {}),
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', '?') }} {{ greet(punct='.', name='Cy') }}", {}),
    ("macro-sees-later-globals", "{% macro m() %}[{{ y }}]{% endmacro %}{% set y = 3 %}{{ m() }}", {}),
    ("macro-recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}", {}),
    ("filter-block", "{% filter upper %}abc {{ 'd' }}{% endfilter %}|{% filter trim|replace('a', 'b') %}  aaa  {% endfilter %}", {}),
    ("with-block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a is defined }}", {}),
    ("generation-block", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}", {"messages": MSGS}),
    # --- filters
    ("filter-trim", "[{{ s|trim }}] [{{ '  x  '|trim }}] [{{ 'xxhixx'|trim('x') }}]", {"s": "\u001c\u001d\u001e\u001f\u0085\u00a0\u2028\u3000\t\n\u000b\u000c\r core \u2029\u202f\u205f\u1680\u2000\u200a \u200b"}),
    ("filter-length", "{{ 'héllo😀'|length }} {{ [1, 2]|length }} {{ {'a': 1}|length }} {{ ''|count }}", {}),
    ("filter-case", "{{ 'héllo wörld'|upper }} {{ 'ÀB'|lower }} {{ 'hELLO wORLD'|capitalize }} {{ 'hello-world foo_bar (x)y'|title }} {{ 'straße'|upper }}", {}),
    ("filter-replace", "{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }}", {}),
    ("filter-join", "{{ [1, 'a', none]|join }} {{ ['a', 'b']|join(', ') }} {{ 'abc'|join('-') }} {{ users|join(', ', attribute='name') }}", {"users": [{"name": "a"}, {"name": "b"}]}),
    ("filter-default", "{{ x|default('d') }} {{ none|default('d') }} {{ ''|default('d', true) }} {{ 'v'|d('d') }} {{ m.k|default('dk') }}", {"m": {}}),
    ("filter-first-last", "{{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'abc'|first }} {{ 'abc'|last }} {{ []|first }}", {}),
    ("filter-list-string", "{{ 'ab'|list }} {{ {'a': 1}|list }} {{ 123|string ~ 'x' }} {{ none|string }} {{ [1]|string }}", {}),
    ("filter-int-float", "{{ '42'|int }} {{ '3.7'|int }} {{ 3.9|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ '0x1A'|int(0, 16) }} {{ 'ff'|int(base=16) }} {{ true|int }} {{ '2.5'|float }} {{ 'x'|float }} {{ 3|float }}", {}),
    ("filter-items", "{% for k, v in d|items %}{{ k }}:{{ v }} {% endfor %}{{ nothing|items|list }}", {"d": {"b": 1, "a": 2}}),
    ("filter-select-reject", "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ ['a', 'code_interpreter', 'b']|reject('equalto', 'code_interpreter')|join(', ') }} {{ [0, 1, '', 'x', none]|select|list }}", {}),
    ("filter-selectattr-map", "{{ messages|selectattr('role', 'equalto', 'user')|list|length }} {{ messages|rejectattr('role', 'eq', 'user')|map(attribute='content')|join(',') }} {{ messages|map(attribute='role')|list }} {{ ['a', 'b']|map('upper')|list }} {{ messages|selectattr('missing')|list }} {{ messages|map(attribute='nope', default='-')|join }}", {"messages": MSGS}),
    ("filter-misc", "{{ [3, 1, 2]|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ ['b', 'A', 'c']|sort }} {{ [1, 2, 3]|sum }} {{ [1, 2, 3]|max }} {{ [4, 2, 8]|min }} {{ -3|abs }} {{ [1, 2, 1, 3]|unique|list }} {{ [1, 2, 3]|reverse|list }} {{ 'abc'|reverse }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ 7|round }} {{ 'x'|safe }} {{ '<a & \"b\">'|e }}", {}),
    ("filter-indent", "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}", {}),
    ("filter-tojson", "{{ x|tojson }}\n{{ x|tojson(indent=2) }}\n{{ [] |tojson(indent=4) }} {{ {}|tojson(indent=4) }} {{ 'é😀\\n\"\\\\\\u0001\\u007f\\u2028'|tojson }} {{ 1.0|tojson }} {{ none|tojson }} {{ true|tojson }}", {"x": {"b": [1, 2.5, None, True, "s"], "a": {"nested": {}, "list": []}, "ü": "ẞ"}}),
    ("filter-tojson-options", "{{ x|tojson(ensure_ascii=true) }} {{ x|tojson(sort_keys=true) }} {{ x|tojson(separators=(',', ':')) }} {{ x|tojson(indent='--') }}", {"x": {"z": "é😀", "a": [1, {"k": None}]}}),
    ("filter-chain-precedence", "{{ 'a' + ' b '|trim + 'c' }}|{{ -1|abs }}|{{ ['x']|length + 1 }}|{{ ' t '|trim|upper ~ '!' }}", {}),
    # --- tests
    ("tests-types", "{{ 'a' is string }} {{ 1 is string }} {{ 1 is number }} {{ 1.5 is number }} {{ 1 is integer }} {{ 1.5 is float }} {{ true is boolean }} {{ none is none }} {{ {} is mapping }} {{ [] is mapping }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ [] is sequence }} {{ 'a' is sequence }} {{ {} is sequence }} {{ true is true }} {{ 1 is true }} {{ false is false }}", {}),
    ("tests-values", "{{ 2 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 1 is eq 1 }} {{ 1 is equalto 2 }} {{ 1 is ne 2 }} {{ 2 is gt 1 }} {{ 2 is lt 1 }} {{ 2 is ge 2 }} {{ 2 is le 1 }} {{ 1 is in [1] }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ none is sameas none }}", {}),
    ("tests-defined", "{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ m.a is defined }} {{ m.b is defined }} {{ m['b'] is not defined }} {{ x is not none }} {{ z is none }} {{ range is callable }}", {"x": 1, "m": {"a": 1}, "z": None}),
    ("tests-on-message-content", "{% for c in contents %}{{ c is mapping }}{{ c is iterable }}{{ c is string }} {% endfor %}", {"contents": ["s", {"a": 1}, [1], 3]}),
    # --- globals
    ("range", "{{ range(3)|list }} {{ range(1, 4)|list }} {{ range(10, 0, -3)|list }} {{ range(0)|list }}", {}),
    ("dict-global", "{{ dict(a=1, b='x') }} {{ dict(a=1).a }}", {}),
    ("raise-exception", "before{{ raise_exception('Custom message: ' ~ 42) }}", {}),
    ("strftime-now-defined", "{{ strftime_now is defined }}", {}),
    # --- undefined behaviour
    ("undefined-rendering", "[{{ x }}][{{ x ~ 'a' }}][{{ x|trim }}][{{ x|length }}][{{ x|default('d') }}][{{ not x }}][{{ x == x }}][{{ x == none }}][{{ 'a' in x }}][{{ x|list }}][{{ x|join }}][{{ x|first }}]", {}),
    ("undefined-missing-key", "[{{ m.nope }}][{{ m['nope'] }}][{{ l[9] }}][{{ s.nope }}]", {"m": {}, "l": [], "s": "x"}),
    ("undefined-ternary-condition", "{{ 'a' if x else 'b' }}", {}),
    # --- runtime errors
    ("error-undefined-attribute", "{{ x.y }}", {}),
    ("error-undefined-attribute-in-defined-test", "{% if x.y is defined %}y{% endif %}", {}),
    ("error-undefined-subscript", "{{ m.a.b }}", {"m": {}}),
    ("error-undefined-plus", "{{ 'a' + x }}", {}),
    ("error-list-index-undefined", "{{ l[3].role }}", {"l": []}),
    ("error-add-types", "{{ 'a' + 1 }}", {}),
    ("error-concat-binds-tighter-than-plus", "{{ 'a' ~ 1 + 2 }}", {}),
    ("error-divide-by-zero", "{{ 1 / 0 }}", {}),
    ("error-call-undefined", "{{ nope() }}", {}),
    ("error-tojson-undefined", "{{ x|tojson }}", {}),
    ("error-unsafe-method", "{{ l.append(1) }}", {"l": []}),
    ("error-range-too-big", "{{ range(200000)|length }}", {}),
    ("error-items-not-mapping", "{{ [1]|items|list }}", {}),
    ("error-raise-in-loop", "{% for m in messages %}{% if m.role == 'assistant' %}{{ raise_exception('roles must alternate ' ~ loop.index0) }}{% endif %}{{ m.role }}{% endfor %}", {"messages": MSGS}),
    # --- more corners
    ("lstrip-mixed-controls", "a\n  {%- if true -%}\n  b\n  {%+ endif %}\n  {# c #}\nd\n    {% raw %} r {% endraw %}\n", {}),
    ("trim-blocks-only-direct-newline", "{% if true %}  \n  x{% endif %}", {}),
    ("whitespace-only-template", "  \n", {}),
    ("unicode-identifiers", "{% set café = 'crème' %}{{ café }}", {}),
    ("integer-zeros", "{{ 00 }} {{ 0_0 }} {{ 1_2_3 }}", {}),
    ("nested-loop-outer-loop", "{% for a in 'xy' %}{% set outer = loop %}{% for b in 'pq' %}{{ outer.index }}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{% endfor %}", {}),
    ("loop-previtem-undefined", "{% for x in [1, 2] %}{{ loop.previtem is defined }}{{ loop.nextitem is defined }} {% endfor %}", {}),
    ("namespace-missing-attribute", "{% set ns = namespace() %}[{{ ns.nope }}][{{ ns.nope is defined }}]", {}),
    ("unicode-case", "{{ 'straße'.upper() }} {{ 'ǆemal'|capitalize }} {{ \"they're bill's\".title() }} {{ \"they're bill's\"|title }} {{ 'İ'|lower|length }} {{ 'ÉCOLE'.lower() }}", {}),
    ("filters-on-lists", "{{ [[1, 2], [3]]|join(',') }} {{ d|list }} {{ d.items()|list|length }} {{ ['  a ', 'b  ']|map('trim')|join('|') }} {{ users|sort(attribute='age')|map(attribute='name')|join }} {{ ['a', 'A', 'b']|unique|list }} {{ ['b', 'a', 'C']|min }} {{ ['b', 'a', 'C']|max }} {{ users|sum(attribute='age') }} {{ users|selectattr('nick', 'defined')|map(attribute='name')|list }}", {"d": {"k1": 1, "k2": 2}, "users": [{"name": "x", "age": 30}, {"name": "y", "age": 20, "nick": "why"}, {"name": "z", "age": 20}]}),
    ("filter-round-ties", "{{ 0.125|round(2) }} {{ 2.675|round(2) }} {{ 2.5|round }} {{ 3.5|round }} {{ -0.5|round }} {{ 1.25|round(1, 'floor') }} {{ 1.21|round(1, 'ceil') }} {{ 1234|round(-2) }}", {}),
    ("filter-int-float-parsing", "{{ '  12  '|int }} {{ '1_000'|int }} {{ '-0x10'|int(0, 16) }} {{ '1e3'|int }} {{ '1_0.5'|float }} {{ ' -inf '|float }} {{ none|int }} {{ []|float }} {{ '0b101'|int(0, 2) }} {{ '12abc'|int(-1) }}", {}),
    ("tojson-more", "{{ x|tojson(sort_keys=true) }} {{ [1e16, 1e-7, 0.1, 123456789012, -0.0]|tojson }} {{ x|tojson(indent=0) }} {{ [[]]|tojson(indent=1, separators=(', ', ' = ')) }}", {"x": {"é": 1, "a": [], "Z": {}}}),
    ("in-edge-cases", "{{ '' in 'abc' }} {{ none in [none] }} {{ 1 in [true] }} {{ 'a' in ['A'] }} {{ 'x' in {} }}", {}),
    ("float-modulo-and-floordiv", "{{ 5 // 2.0 }} {{ -5 % 3.0 }} {{ 5.5 % -2 }} {{ -5.5 // 2 }} {{ 7.0 % 7 }}", {}),
    ("equality-mixed", "{{ 1 == true }} {{ 0 == false }} {{ 1.0 == true }} {{ [1, 2] == (1, 2) }} {{ (1, 2) == (1, 2) }} {{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }} {{ 'b' > 'B' }} {{ none == 0 }} {{ '1' == 1 }}", {}),
    ("string-literal-forms", "{{ \"it's\" ~ 'say \"hi\"' ~ 'multi\nline' ~ \"\\t\" }}|{{ 'a'\n   'b' }}", {}),
    ("macro-defaults-varargs-kwargs", "{% macro m(a, b=a * 2) %}{{ a }},{{ b }},{{ varargs }},{{ kwargs }}{% endmacro %}[{{ m(1) }}][{{ m(1, 5) }}][{{ m(1, 2, 3, 4) }}][{{ m(1, z=9) }}]", {}),
    ("star-arguments", "{{ dict(**d) }} {{ range(*r)|list }} {{ 'a-b-c'.split(*s) }}", {"d": {"x": 1}, "r": [1, 7, 2], "s": ["-", 1]}),
    ("set-block-scope", "{% set x = 'outer' %}{% set block %}{% set x = 'inner' %}{{ x }}{% endset %}{{ block }} {{ x }}", {}),
    ("conditional-without-else", "[{{ x if x }}][{{ 'y' if false }}][{{ ('a' if false)|default('dflt') }}]", {}),
    ("tuple-subscript-undefined", "[{{ d['a', 'b'] }}][{{ d[0] }}][{{ [1, 2]['x'] }}][{{ 'abc'[1:'q'] }}]", {"d": {"a": 1}}),
    ("sequence-repetition", "[{{ 'abc' * -1 }}][{{ [1] * 0 }}][{{ (1,) * 2 }}][{{ 2 * [3] }}]", {}),
    ("getattr-methods-as-values", "{{ 'abc'.upper is defined }} {{ d.get is defined }} {{ d.keys is callable }}", {"d": {}}),
    ("render-callables-and-loop", "{% for x in [1] %}{{ loop.length }}{% endfor %}", {}),
    ("messages-empty-role-check", "{% if messages|length == 0 or messages[0].role != 'system' %}no-system{% endif %}", {"messages": []}),
    ("error-messages-empty-subscript", "{{ messages[0]['role'] }}", {"messages": []}),
    ("error-unpack-too-few", "{% for a, b in [[1, 2], [3]] %}{{ a }}{% endfor %}", {}),
    ("error-unpack-too-many", "{% for a, b in [[1, 2, 3]] %}{{ a }}{% endfor %}", {}),
    ("error-compare-none", "{{ none < 1 }}", {}),
    ("error-compare-str-int", "{{ 1 < 'a' }}", {}),
    ("error-multiply-float", "{{ [1] * 2.0 }}", {}),
    ("error-namespace-underscore", "{% set ns = namespace() %}{% set ns._x = 1 %}", {}),
    ("error-not-callable", "{{ 'abc'() }}", {}),
    ("error-string-join-non-string", "{{ ','.join([1, 2]) }}", {}),
    ("error-in-non-container", "{{ 1 in 2 }}", {}),
    ("error-in-string-needs-string", "{{ 1 in 'abc' }}", {}),
    ("error-set-attribute-non-namespace", "{% set d = {} %}{% set d.x = 1 %}", {}),
    ("syntax-dot-needs-name", "{{ 1. }}", {}),
    ("syntax-if-without-condition", "{% if %}x{% endif %}", {}),
    ("syntax-for-missing-in", "{% for x of y %}{% endfor %}", {}),
    ("syntax-filter-missing-name", "{{ x | }}", {}),
    ("syntax-unbalanced-call", "{{ a.b( }}", {}),
    ("syntax-nesting-mistake", "{% for x in y %}{% if x %}{% endfor %}{% endif %}", {}),
    ("syntax-non-default-after-default", "{% macro m(a=1, b) %}{% endmacro %}", {}),
    ("syntax-assign-to-const", "{% set true = 1 %}", {}),
    ("syntax-test-needs-name", "{{ 'a' is 'b' }}", {}),
    ("syntax-endfor-in-if", "{% if x %}\n{% endfor %}", {}),
    ("syntax-unclosed-string", "{{ 'abc }}", {}),
    ("syntax-positional-after-keyword", "{{ f(a=1, 2) }}", {}),
    # --- found by differential fuzzing against Jinja
    ("for-else-runs-when-no-iteration-completes", "{% for i in [1, 2] %}{% continue %}{% else %}E1{% endfor %}|{% for i in [1, 2] %}{% break %}{% else %}E2{% endfor %}|{% for i in [1, 2] %}{% if i == 2 %}{% continue %}{% endif %}{% else %}E3{% endfor %}", {}),
    ("break-inside-filter-and-set-blocks", "{% for i in range(3) %}{% filter upper %}a{% if i == 1 %}{% break %}{% endif %}b{% endfilter %}{% set x %}{% continue %}{% endset %}never{% endfor %}", {}),
    ("macro-renders-as-macro", "{% macro m() %}{% endmacro %}{{ m }}", {}),
    ("frame-undefined-before-unconditional-set", "{% macro m() %}[{{ a }}]{% endmacro %}{{ m() }}{% for i in [1] %}({{ a }}){% endfor %}{% set a = 'x' %}{{ m() }}|{% for i in [1] %}{% if false %}{% set y = 1 %}{% endif %}{{ y }}{% endfor %}|{% for i in [1] %}{{ z }}{% set z = 2 %}{{ z }}{% endfor %}|{% for i in [1] %}{{ w }}{% endfor %}{% if c %}{% set w = 1 %}{% endif %}", {"a": "A", "y": "Y", "z": "Z", "w": "W", "c": False}),
    ("percent-formatting", "{{ '%s|%r|%d|%5.2f|%-4d|%04d|%x|%#X|%o|%e|%g|%c|%%|%+d|% d' % ('é', 'q', 7.9, 3.14159, 5, -42, 255, 255, 8, 12345.678, 0.0001, 65, 3, 3) }}|{{ '%(a)s-%(b)03d' % {'a': 'x', 'b': 7} }}|{{ 'no specs' % {'k': 1} }}|{{ '%s' % [1, 2] }}|{{ '%.3s|%5s|%-5s|' % ('abcdef', 'ab', 'ab') }}|{{ '%s and %s'|format('a', 1) }}|{{ '%(x)s'|format(x=2) }}", {}),
    ("error-percent-not-all-converted", "{{ 'abc' % 1 }}", {}),
    ("error-percent-not-enough", "{{ '%s %s' % ('a',) }}", {}),
    ("error-percent-type", "{{ '%d' % 'x' }}", {}),
    ("error-messages-operand-order", "{{ 1 > 'a' }}", {}),
    ("error-power-message", "{{ 'a' ** 2 }}", {}),
    ("error-int-modulo-zero", "{{ 5 % 0 }}", {}),
    ("error-unhashable-in-dict", "{{ [] in {} }}", {}),
    ("error-reverse-not-iterable", "{{ 5|reverse }}", {}),
    ("error-last-not-reversible", "{{ 5|last }}", {}),
    ("error-indent-non-string", "{{ 5|indent }}", {}),
    ("error-round-undefined", "{{ nothing|round }}", {}),
    # --- syntax errors (compile time)
    ("syntax-unclosed-variable", "hello {{ name", {}),
    ("syntax-unclosed-block", "a\n{% if true", {}),
    ("syntax-unclosed-comment", "a {# never closed", {}),
    ("syntax-missing-endif", "{% if true %}a", {}),
    ("syntax-missing-endfor", "x\n{% for a in b %}a", {}),
    ("syntax-stray-endif", "a\n\n{% endif %}", {}),
    ("syntax-unknown-tag", "{% frobnicate %}", {}),
    ("syntax-unknown-filter", "line1\n{{ x|frobnicate }}", {}),
    ("syntax-unknown-test", "{{ x is frobnicate }}", {}),
    ("syntax-bad-expression", "{{ 1 + }}", {}),
    ("syntax-unbalanced", "{{ (1 + 2 }}", {}),
    ("syntax-empty-variable", "{{ }}", {}),
    ("syntax-break-outside-loop", "{% break %}", {}),
    ("syntax-unexpected-char", "{{ 1 $ 2 }}", {}),
    ("syntax-elif-after-else", "{% if a %}{% else %}{% elif b %}{% endif %}", {}),
    ("syntax-include-unsupported", "{% include 'other.jinja' %}", {}),
]


# ---------------------------------------------------------------- randomised differential cases
#
# Random templates (whitespace control, expressions, statements and scoping), rendered by
# transformers' Jinja environment: the Swift tests require the same text whenever Jinja renders,
# and an error whenever Jinja raises. Fixed seeds keep the corpus stable.

def _fuzz_whitespace(rng):
    text = [" ", "\n", "  ", "\t", "x", "\u3000", "\r\n", "\u0085", "y\n  ", "\n\n", " \n ", "\u00a0", "\u001c"]
    def ws():
        return "".join(rng.choice(text) for _ in range(rng.randint(0, 3)))
    def sign():
        return rng.choice(["", "", "-", "+"])
    def vsign():
        return rng.choice(["", "", "-"])
    def segment(depth):
        r = rng.random()
        if r < 0.35:
            return ws()
        if r < 0.5:
            return "{{" + vsign() + " 'v' " + vsign() + "}}"
        if r < 0.6:
            return "{#" + vsign() + " c " + vsign() + "#}"
        if r < 0.65:
            return "{%" + sign() + " raw " + rng.choice(["", "-"]) + "%}" + ws() + "R" + ws() + "{%" + sign() + " endraw " + sign() + "%}"
        if depth > 3:
            return ws()
        if r < 0.85:
            return "{%" + sign() + " if true " + sign() + "%}" + body(depth + 1) + "{%" + sign() + " endif " + sign() + "%}"
        return "{%" + sign() + " for i in [1, 2] " + sign() + "%}" + body(depth + 1) + "{%" + sign() + " endfor " + sign() + "%}"
    def body(depth):
        return "".join(segment(depth) for _ in range(rng.randint(0, 5)))
    return body(0), {}


_FUZZ_LITERALS = ["0", "1", "-3", "7", "2.5", "0.1", "-0.0", "1e3", "'a'", "'Ab c'", "' x '", "''", "'é😀'", "none", "true",
                  "false", "[1, 2]", "[]", "['b', 'a']", "(1, 'x')", "{'k': 1}", "{}", "x", "y", "s", "l", "d", "missing",
                  "d.k", "l[0]", "s[1:]", "'%s-%d'"]
_FUZZ_OPERATORS = ["+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">", "<=", ">=", "in", "not in", "and", "or", "**"]
_FUZZ_FILTERS = ["length", "trim", "upper", "lower", "default('D')", "first", "last", "join(',')", "list", "string", "int",
                 "float", "abs", "round", "tojson", "capitalize", "title", "reverse|list", "sort", "unique|list",
                 "items|list", "min", "max", "sum", "replace('a', 'Z')", "count", "tojson(indent=1)", "map('string')|list"]
_FUZZ_TESTS = ["defined", "none", "string", "number", "mapping", "iterable", "sequence", "odd", "even", "integer",
               "float", "true", "false", "boolean", "lower", "upper", "in [1, 'a']", "eq 1", "divisibleby 2"]


def _fuzz_expression(rng):
    def expression(depth):
        r = rng.random()
        if depth > 3 or r < 0.3:
            return rng.choice(_FUZZ_LITERALS)
        if r < 0.6:
            return "(" + expression(depth + 1) + " " + rng.choice(_FUZZ_OPERATORS) + " " + expression(depth + 1) + ")"
        if r < 0.75:
            return "(" + expression(depth + 1) + ")|" + rng.choice(_FUZZ_FILTERS)
        if r < 0.85:
            return "(" + expression(depth + 1) + " is " + rng.choice(["", "not "]) + rng.choice(_FUZZ_TESTS) + ")"
        if r < 0.9:
            return "(not " + expression(depth + 1) + ")"
        if r < 0.95:
            return "(" + expression(depth + 1) + " if " + expression(depth + 1) + " else " + expression(depth + 1) + ")"
        return "-(" + expression(depth + 1) + ")"
    return "{{ " + expression(0) + " }}", {"x": 3, "y": 1.5, "s": "hello", "l": [3, 1, 2], "d": {"k": "v", "n": 2}}


def _fuzz_statements(rng):
    names = ["a", "b", "x", "ns.v", "loop.index", "loop.last", "loop.previtem", "i", "j"]
    def value():
        return rng.choice(["1", "'s'", "a ~ 'x'", "(b or 0) + 1", "ns.v ~ 'n'", "x", "i",
                           "loop.index0 if loop is defined else -1", "[i, j]", "m(a)"])
    def statement(context):
        r = rng.random()
        if r < 0.25:
            return "{{ " + rng.choice(names) + " }}"
        if r < 0.4:
            return "{% set " + rng.choice(["a", "b", "x"]) + " = " + value() + " %}"
        if r < 0.5:
            return "{% set ns.v = " + value() + " %}"
        if r < 0.55:
            return rng.choice(["{% break %}", "{% continue %}"]) if "for" in context and "macro" not in context else "|"
        if len(context) > 3:
            return "."
        if r < 0.7:
            variable = rng.choice(["i", "j"])
            return ("{% for " + variable + " in " + rng.choice(["[1, 2]", "range(3)", "'ab'", "[]", "l"])
                    + rng.choice(["", " if " + variable + " != 1"]) + " %}" + block(context + ["for"])
                    + rng.choice(["", "{% else %}E"]) + "{% endfor %}")
        if r < 0.8:
            return ("{% if " + rng.choice(["a", "b", "x", "i", "not a", "loop is defined", "a == 1"]) + " %}"
                    + block(context + ["if"]) + rng.choice(["", "{% elif b %}" + block(context + ["if"]),
                                                              "{% else %}" + block(context + ["if"])]) + "{% endif %}")
        if r < 0.86:
            return "{% with a = " + value() + " %}" + block(context + ["with"]) + "{% endwith %}"
        if r < 0.9:
            return "{% set " + rng.choice(["a", "b", "x"]) + " %}" + block(context + ["set"]) + "{% endset %}"
        if r < 0.93:
            return "{% macro m(p, q=a) %}<{{ p }}{{ q }}{{ a }}{{ x }}>" + block(context + ["macro"]) + "{% endmacro %}"
        return "{% filter upper %}" + block(context + ["filter"]) + "{% endfilter %}"
    def block(context):
        return " ".join(statement(context) for _ in range(rng.randint(1, 4)))
    source = ("{% set ns = namespace(v=0) %}{% macro m(p) %}<{{ p }}{{ a }}>{% endmacro %}" + block([])
              + "|{{ a }}{{ b }}{{ ns.v }}")
    return source, {"a": "A", "l": [5, 6]}


def fuzz_cases():
    import copy
    import random
    records = []
    for kind, generator, seed, count in [("whitespace", _fuzz_whitespace, 1, 400), ("expression", _fuzz_expression, 2, 600),
                                         ("statements", _fuzz_statements, 3, 200)]:
        rng = random.Random(seed)
        for n in range(count):
            source, context = generator(rng)
            record = {"name": f"{kind}-{n}", "template": source, "context": context}
            try:
                record["expected"] = chat_template_utils._compile_jinja_template(source).render(**copy.deepcopy(context))
            except Exception as error:
                if isinstance(error, RecursionError):
                    continue  # Python's recursion limit; the Swift side stops earlier, on its own guard
                record["expected_error"] = {"type": type(error).__name__}
            records.append(record)
    return records


def render_jinja_case(name, template, context):
    record = {"name": name, "template": template, "context": context}
    try:
        compiled = chat_template_utils._compile_jinja_template(template)
    except Exception as error:
        record["expected_error"] = {"type": type(error).__name__, "message": str(error), "phase": "compile",
                                    "line": getattr(error, "lineno", None)}
        return record
    try:
        record["expected"] = compiled.render(**context)
    except Exception as error:
        record["expected_error"] = {"type": type(error).__name__, "message": str(error), "phase": "render"}
    return record


def write_json(path, value):
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, (template, bos, eos, source) in TEMPLATES.items():
        tok = make_tokenizer(template, bos, eos)
        cases = [render_case(tok, case) for case in CASES[name]()]
        write_json(OUT_DIR / f"{name}.json", {
            "template_name": name, "source": source, "template": template,
            "bos_token": bos, "eos_token": eos, "cases": cases,
        })
        errors = sum("expected_error" in case for case in cases)
        print(f"{name}: {len(cases)} cases ({errors} raising)")
    records = [render_jinja_case(*case) for case in JINJA_CASES]
    write_json(OUT_DIR / "jinja-cases.json", records)
    print(f"jinja-cases: {len(records)} cases ({sum('expected_error' in r for r in records)} raising)")
    fuzz = fuzz_cases()
    (OUT_DIR / "jinja-fuzz.json").write_text(json.dumps(fuzz, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"jinja-fuzz: {len(fuzz)} cases ({sum('expected_error' in r for r in fuzz)} raising)")


if __name__ == "__main__":
    sys.exit(main())
