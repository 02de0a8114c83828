/* Helpers for chat front ends (kestrel chat): built-in chat templates, the
 * model's template or the ChatML fallback, and conversations as JSON. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "kestrel.h"

#define WHERE "conversation"

/* Short, well-known templates, written the way the models' own tokenizer_config
 * files write them (Jinja, rendered by kestrel_chat_render). */
static const struct {
    const char *name;
    const char *source;
} builtins[] = {
    { "chatml",
      "{%- for message in messages -%}"
      "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
      "{%- endfor -%}"
      "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}" },
    /* Llama 2 chat: the system prompt goes inside the first [INST] block. */
    { "llama2",
      "{%- if messages and messages[0]['role'] == 'system' -%}"
      "{%- set loop_messages = messages[1:] -%}{%- set system_message = messages[0]['content'] -%}"
      "{%- else -%}{%- set loop_messages = messages -%}{%- set system_message = false -%}{%- endif -%}"
      "{%- for message in loop_messages -%}"
      "{%- if loop.index0 == 0 and system_message != false -%}"
      "{%- set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] -%}"
      "{%- else -%}{%- set content = message['content'] -%}{%- endif -%}"
      "{%- if message['role'] == 'user' -%}{{- bos_token + '[INST] ' + content | trim + ' [/INST]' -}}"
      "{%- elif message['role'] == 'assistant' -%}{{- ' ' + content | trim + ' ' + eos_token -}}{%- endif -%}"
      "{%- endfor -%}" },
    { "llama3",
      "{%- for message in messages -%}"
      "{%- set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
      "message['content'] | trim + '<|eot_id|>' -%}"
      "{%- if loop.index0 == 0 -%}{%- set content = bos_token + content -%}{%- endif -%}"
      "{{- content -}}"
      "{%- endfor -%}"
      "{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}" },
    /* Gemma has no system role: the system prompt opens the first user turn. */
    { "gemma",
      "{{- bos_token -}}"
      "{%- if messages and messages[0]['role'] == 'system' -%}"
      "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}{%- set loop_messages = messages[1:] -%}"
      "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
      "{%- for message in loop_messages -%}"
      "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
      "{{- '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') + "
      "message['content'] | trim + '<end_of_turn>\\n' -}}"
      "{%- endfor -%}"
      "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}" },
    { "phi3",
      "{%- for message in messages -%}"
      "{{- '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' -}}"
      "{%- endfor -%}"
      "{%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- else -%}{{- eos_token -}}{%- endif -%}" },
};

#define N_BUILTINS ((int)(sizeof builtins / sizeof builtins[0]))

const char *kestrel_chat_builtin_template(const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; i < N_BUILTINS; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return builtins[i].source;
    return NULL;
}

const char *kestrel_chat_builtin_name(int i)
{
    return i >= 0 && i < N_BUILTINS ? builtins[i].name : NULL;
}

const char *kestrel_chat_model_template(const kestrel_model *model, bool *is_fallback)
{
    const char *t = model ? kestrel_model_meta_str(model, "tokenizer.chat_template") : NULL;
    if (is_fallback)
        *is_fallback = !t || !*t;
    return t && *t ? t : builtins[0].source;
}

void kestrel_chat_messages_free(kestrel_chat_message *messages, int n)
{
    if (!messages)
        return;
    for (int i = 0; i < n; i++) {
        free(messages[i].role);
        free(messages[i].content);
    }
    free(messages);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

int kestrel_chat_messages_parse(const char *json, size_t len, kestrel_chat_message **out)
{
    if (!out)
        return kestrel_fail(WHERE, "no output pointer");
    *out = NULL;
    char err[256];
    json_value *doc = json_parse(json ? json : "", json ? len : 0, err, sizeof err);
    if (!doc)
        return kestrel_fail(WHERE, "not valid JSON: %s", err);
    const json_value *list = doc;
    if (doc->type == JSON_OBJECT)
        list = json_object_get(doc, "messages");
    if (!list || list->type != JSON_ARRAY) {
        json_free(doc);
        return kestrel_fail(WHERE, "expected a JSON array of messages (or an object with \"messages\")");
    }
    size_t n = list->u.array.count;
    if (n > (size_t)INT32_MAX / 2) {
        json_free(doc);
        return kestrel_fail(WHERE, "too many messages");
    }
    kestrel_chat_message *msgs = calloc(n ? n : 1, sizeof *msgs);
    if (!msgs) {
        json_free(doc);
        return kestrel_fail(WHERE, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const json_value *m = list->u.array.items[i];
        const json_value *role = json_object_get(m, "role");
        const json_value *content = json_object_get(m, "content");
        const char *problem = NULL;
        if (m->type != JSON_OBJECT)
            problem = "is not an object";
        else if (!role || role->type != JSON_STRING)
            problem = "has no \"role\" string";
        else if (content && content->type != JSON_STRING && content->type != JSON_NULL)
            problem = "has a \"content\" that is not a string";
        if (problem) {
            kestrel_chat_messages_free(msgs, (int)n);
            json_free(doc);
            return kestrel_fail(WHERE, "message %zu %s", i + 1, problem);
        }
        msgs[i].role = dup_n(role->u.string.ptr, role->u.string.len);
        if (content && content->type == JSON_STRING)
            msgs[i].content = dup_n(content->u.string.ptr, content->u.string.len);
        else
            msgs[i].content = dup_n("", 0);
        if (!msgs[i].role || !msgs[i].content) {
            kestrel_chat_messages_free(msgs, (int)n);
            json_free(doc);
            return kestrel_fail(WHERE, "out of memory");
        }
    }
    json_free(doc);
    *out = msgs;
    return (int)n;
}

char *kestrel_chat_messages_json(const kestrel_chat_message *messages, int n, int indent)
{
    json_value *list = json_new_array();
    if (!list)
        return NULL;
    for (int i = 0; i < n; i++) {
        json_value *m = json_new_object();
        if (!m || json_array_push(list, m)) {
            json_free(list);
            return NULL;
        }
        const char *role = messages[i].role ? messages[i].role : "";
        const char *content = messages[i].content ? messages[i].content : "";
        if (json_object_set(m, "role", 4, json_new_string(role, strlen(role))) ||
            json_object_set(m, "content", 7, json_new_string(content, strlen(content)))) {
            json_free(list);
            return NULL;
        }
    }
    json_dump_options opt = json_default_options();
    opt.indent = indent;
    char *text = json_dumps(list, &opt, NULL);
    json_free(list);
    return text;
}
