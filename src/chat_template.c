/* kestrel_chat_render: the variables transformers' apply_chat_template passes
 * (messages, tools, documents=None, add_generation_prompt, bos_token, eos_token)
 * rendered through the Jinja interpreter. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "jinja.h"
#include "json.h"
#include "kestrel.h"

#define WHERE "chat template"

/* Takes member `key` out of an object, leaving null in its place. */
static json_value *take_member(json_value *object, const char *key)
{
    for (size_t i = 0; i < object->u.object.count; i++) {
        json_member *m = &object->u.object.members[i];
        if (strlen(key) == m->key_len && memcmp(m->key, key, m->key_len) == 0) {
            json_value *v = m->value;
            m->value = json_new_null();
            if (!m->value) { /* keep the tree valid for json_free */
                m->value = v;
                return NULL;
            }
            return v;
        }
    }
    return NULL;
}

static int add_string(json_value *vars, const char *key, const char *s)
{
    if (!s)
        s = "";
    return json_object_set(vars, key, strlen(key), json_new_string(s, strlen(s)));
}

int kestrel_chat_render(const char *template_src, const char *messages_json,
                        const char *tools_json, bool add_generation_prompt,
                        const char *bos_token, const char *eos_token, char **out)
{
    if (!out)
        return kestrel_fail(WHERE, "no output pointer");
    *out = NULL;
    if (!template_src)
        return kestrel_fail(WHERE, "no template");
    if (!messages_json)
        return kestrel_fail(WHERE, "no messages");

    char err[512];
    json_value *doc = json_parse(messages_json, strlen(messages_json), err, sizeof err);
    if (!doc)
        return kestrel_fail(WHERE, "messages are not valid JSON: %s", err);
    json_value *messages = NULL, *tools = NULL;
    if (doc->type == JSON_ARRAY) {
        messages = doc;
        doc = NULL;
    } else if (doc->type == JSON_OBJECT) {
        /* {"messages": [...], "tools": [...]}, the shape of a request body. */
        messages = take_member(doc, "messages");
        if (!tools_json)
            tools = take_member(doc, "tools");
    }
    json_free(doc);
    if (!messages || messages->type != JSON_ARRAY) {
        json_free(messages);
        json_free(tools);
        return kestrel_fail(WHERE, "messages must be a JSON array (or an object with \"messages\")");
    }
    if (tools_json) {
        tools = json_parse(tools_json, strlen(tools_json), err, sizeof err);
        if (!tools) {
            json_free(messages);
            return kestrel_fail(WHERE, "tools are not valid JSON: %s", err);
        }
    }
    if (tools && tools->type != JSON_ARRAY && tools->type != JSON_NULL) {
        json_free(messages);
        json_free(tools);
        return kestrel_fail(WHERE, "tools must be a JSON array or null");
    }

    json_value *vars = json_new_object();
    int rc = vars ? 0 : -1;
    rc |= json_object_set(vars, "messages", 8, messages);
    rc |= json_object_set(vars, "tools", 5, tools ? tools : json_new_null());
    rc |= json_object_set(vars, "documents", 9, json_new_null());
    rc |= json_object_set(vars, "add_generation_prompt", 21, json_new_bool(add_generation_prompt));
    rc |= add_string(vars, "bos_token", bos_token);
    rc |= add_string(vars, "eos_token", eos_token);
    if (rc) {
        json_free(vars);
        return kestrel_fail(WHERE, "out of memory");
    }

    char *text = NULL;
    jinja_status status =
        jinja_render(template_src, strlen(template_src), vars, &text, NULL, err, sizeof err);
    json_free(vars);
    if (status == JINJA_RAISED)
        return kestrel_fail(NULL, "%s", err);
    if (status != JINJA_OK)
        return kestrel_fail(WHERE, "%s", err);
    *out = text;
    return 0;
}
