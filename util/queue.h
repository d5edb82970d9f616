/* SPDX-License-Identifier: ISC */
/*
 * queue.h: a thread-safe FIFO of caller-defined items (mutex, condvar and a
 * TAILQ of nodes).  queue_push gives the item away; queue_pop takes it back.
 * After queue_close, pushes fail and pops drain what is left, then return
 * NULL.  Any thread may call any function.
 */
#ifndef UTIL_QUEUE_H
#define UTIL_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

struct queue;

struct queue *queue_new(void);
/* Frees the queue; items still in it are freed with free_item if non-NULL. */
void queue_free(struct queue *q, void (*free_item)(void *));
/* Append item (ownership passes to the queue).  Returns -1 if closed. */
int queue_push(struct queue *q, void *item);
/* Remove the oldest item, waiting for one; NULL once closed and empty. */
void *queue_pop(struct queue *q);
/* Remove the oldest item without waiting; NULL if empty. */
void *queue_trypop(struct queue *q);
/* Wake all waiters; no more pushes are accepted. */
void queue_close(struct queue *q);
size_t queue_len(struct queue *q);

#endif
