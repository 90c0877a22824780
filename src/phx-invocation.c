/* phx-invocation.c — a request's life as data: what the host asked (the prepared call), the
 * outcome, its encoding in the request's dialect, and delivery to the connection it came
 * from (or to the agent's own caller). No scheduling: that is the dispatcher's. */
#define G_LOG_DOMAIN "phx-invocation"

#include "phx-invocation.h"
#include "phx-protocol.h"
#include "phx-qga.h"

PhxInvocation *
phx_invocation_new (PhxConnection *connection, GTask *internal)
{
        PhxInvocation *self = g_new0 (PhxInvocation, 1);

        self->call.connection = connection != NULL ? g_object_ref (connection) : NULL;
        self->internal = internal != NULL ? g_object_ref (internal) : NULL;
        self->link.data = self;
        return self;
}

void
phx_invocation_free (PhxInvocation *self)
{
        g_clear_pointer (&self->line, g_bytes_unref);
        phx_prepared_clear (&self->prepared);
        g_clear_pointer (&self->call.args, phx_args_free);
        g_clear_object (&self->call.cancellable);
        g_clear_object (&self->call.connection);
        if (self->call.family_data != NULL && self->call.family_data_free != NULL)
                self->call.family_data_free (self->call.family_data);
        g_clear_pointer (&self->call.payload, g_bytes_unref);
        if (self->call.handover_data != NULL && self->call.handover_free != NULL)
                self->call.handover_free (self->call.handover_data);
        g_clear_pointer (&self->result, json_node_unref);
        g_clear_error (&self->error);
        g_clear_pointer (&self->reply, g_ptr_array_unref);
        g_clear_object (&self->internal);
        g_free (self);
}

const char *
phx_invocation_get_name (PhxInvocation *self)
{
        return self->prepared.name != NULL ? self->prepared.name : "(none)";
}

/* Makes the reply's bytes from the outcome. Thread-safe: a 64 MiB file-read reply is
 * encoded in its worker, not on the main loop. The agent's own calls need no bytes. */
void
phx_invocation_encode (PhxInvocation *self)
{
        const PhxEntry *entry = self->prepared.entry;

        if (self->reply != NULL || self->internal != NULL)
                return;
        if (self->error == NULL && entry != NULL && entry->reply != NULL)
                self->result = entry->reply (g_steal_pointer (&self->result));
        if (self->prepared.dialect == PHX_DIALECT_QGA) {
                if (self->error == NULL && self->call.payload != NULL) {
                        self->reply = phx_qga_reply_encode_with_payload (g_steal_pointer (&self->result),
                                                                         self->call.payload_member,
                                                                         self->call.payload, self->prepared.id);
                        g_clear_pointer (&self->call.payload, g_bytes_unref);
                        return;
                }
                self->reply = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
                /* success-response: false — the reply is no bytes at all; the invocation is
                 * still answered (counted, its budget released) like any other */
                if (self->error == NULL && entry != NULL && (entry->flags & PHX_FACE_NO_SUCCESS_REPLY)) {
                        g_clear_pointer (&self->result, json_node_unref);
                        return;
                }
                if (self->error != NULL)
                        g_ptr_array_add (self->reply, phx_qga_reply_encode_error (self->error, self->prepared.id));
                else
                        g_ptr_array_add (self->reply,
                                         phx_qga_reply_encode (g_steal_pointer (&self->result), self->prepared.id,
                                                               entry != NULL && (entry->flags & PHX_FACE_DELIMITED)));
                return;
        }
        if (self->error == NULL && self->call.payload != NULL) {
                self->reply = phx_reply_encode_with_payload (g_steal_pointer (&self->result),
                                                             self->call.payload_member, self->call.payload,
                                                             self->prepared.tag);
                g_clear_pointer (&self->call.payload, g_bytes_unref);
                return;
        }
        self->reply = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
        if (self->error != NULL)
                g_ptr_array_add (self->reply, phx_reply_encode_error (self->error, self->prepared.tag));
        else
                g_ptr_array_add (self->reply, phx_reply_encode (g_steal_pointer (&self->result), self->prepared.tag));
}

/* The encoded reply parts, for a caller that sends them later (qemu-ga's reply order). */
GPtrArray *
phx_invocation_steal_reply (PhxInvocation *self)
{
        phx_invocation_encode (self);
        return g_steal_pointer (&self->reply);
}

gsize
phx_invocation_reply_size (PhxInvocation *self)
{
        gsize size = 0;

        for (guint i = 0; self->reply != NULL && i < self->reply->len; i++)
                size += g_bytes_get_size (g_ptr_array_index (self->reply, i));
        return size;
}

/* Main thread: the reply goes to the connection it belongs to — dropped there if that host
 * has left — or the agent's own caller gets the outcome. */
void
phx_invocation_deliver (PhxInvocation *self)
{
        if (self->internal != NULL) {
                if (self->error != NULL)
                        g_task_return_error (self->internal, g_steal_pointer (&self->error));
                else
                        g_task_return_pointer (self->internal, g_steal_pointer (&self->result),
                                               (GDestroyNotify) json_node_unref);
                return;
        }
        phx_invocation_encode (self);
        for (guint i = 0; self->call.connection != NULL && i < self->reply->len; i++)
                phx_connection_send (self->call.connection, g_ptr_array_index (self->reply, i));
}
