/* SPDX-License-Identifier: ISC */
/* queue.c: mutex + condvar FIFO used for every handoff between threads. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/queue.h>

#include "util/queue.h"
#include "util/xmalloc.h"

struct qnode {
	TAILQ_ENTRY(qnode) entry;
	void *item;
};

struct queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	TAILQ_HEAD(, qnode) head; /* {lock} */
	size_t len;               /* {lock} */
	bool closed;              /* {lock} */
};

struct queue *
queue_new(void)
{
	struct queue *q = xcalloc(1, sizeof(*q));

	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	TAILQ_INIT(&q->head);
	return q;
}

void
queue_free(struct queue *q, void (*free_item)(void *))
{
	struct qnode *n;

	if (q == NULL)
		return;
	while ((n = TAILQ_FIRST(&q->head)) != NULL) {
		TAILQ_REMOVE(&q->head, n, entry);
		if (free_item != NULL)
			free_item(n->item);
		free(n);
	}
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

int
queue_push(struct queue *q, void *item)
{
	struct qnode *n = xmalloc(sizeof(*n));

	n->item = item;
	pthread_mutex_lock(&q->lock);
	if (q->closed) {
		pthread_mutex_unlock(&q->lock);
		free(n);
		return -1;
	}
	TAILQ_INSERT_TAIL(&q->head, n, entry);
	q->len++;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

static void *
take_locked(struct queue *q)
{
	struct qnode *n;
	void *item;

	n = TAILQ_FIRST(&q->head);
	if (n == NULL)
		return NULL;
	TAILQ_REMOVE(&q->head, n, entry);
	q->len--;
	item = n->item;
	free(n);
	return item;
}

void *
queue_pop(struct queue *q)
{
	void *item;

	pthread_mutex_lock(&q->lock);
	while (TAILQ_EMPTY(&q->head) && !q->closed)
		pthread_cond_wait(&q->cond, &q->lock);
	item = take_locked(q);
	pthread_mutex_unlock(&q->lock);
	return item;
}

void *
queue_trypop(struct queue *q)
{
	void *item;

	pthread_mutex_lock(&q->lock);
	item = take_locked(q);
	pthread_mutex_unlock(&q->lock);
	return item;
}

void
queue_close(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

size_t
queue_len(struct queue *q)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = q->len;
	pthread_mutex_unlock(&q->lock);
	return n;
}
