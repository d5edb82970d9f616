/* SPDX-License-Identifier: ISC */
/*
 * kern_avx512.c: the AVX-512 kernels (F, BW, VL, DQ), built into their own
 * library with -mavx512f -mavx512bw -mavx512vl -mavx512dq and called only
 * after kern_init() checked the CPU.
 *
 * Design.  y = x·Wᵀ with x[m][K] and W[N][K] both contiguous in k.  Each
 * output element is ONE fp32 accumulator summed in k order, k cut into
 * blocks of KERN_KC columns from column 0: acc = Σ over the block by FMA,
 * y = acc of block 0, then y = y + acc of each later block, then
 * y = y + bias.  That is the scalar reference's order except that each
 * product is fused and the blocks are summed separately, and it does not
 * depend on where the element sits in a tile, which thread slice it is in,
 * or m, so results are bit-identical for any thread count and for a row
 * alone or in a batch.
 *
 * GEMM (m > 1), after BLIS: for each block of GEMM_NB W rows × KERN_KC
 * columns, the weights are converted to fp32 once and packed k-major into
 * panels of NR = 32 rows (P[k][32], 32 KiB, stays in L1), and a 12 × 32
 * register tile (24 accumulators) sweeps the rows of x past each panel:
 * per k, two panel loads, twelve broadcasts of x, 24 FMAs.  The 16×16
 * transposes of the packing are amortised over all m rows.
 *
 * GEMV (m == 1, decode) is bound by memory bandwidth: it streams each W
 * row once, transposing 16 × 32 blocks in registers on the way (gemv_bf16
 * explains the BF16 shortcut) and feeding 8 independent FMA chains.
 *
 * Stack: about 240 KiB per call (the packed W block and the x block).
 *
 * The file is compiled with -ffp-contract=off like the rest of model/:
 * the FMAs are the explicit intrinsics, and plain C arithmetic stays
 * unfused so the order above is exactly what runs.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "model/kern_impl.h"

#if defined(__x86_64__)

#include <immintrin.h>

/* Byte address of W[row][col]. */
static inline const char *
w_at(const struct kern_mat *w, int row, int col)
{
	size_t es = w->dtype == KERN_F32 ? 4 : 2;

	return (const char *)w->data + es * ((size_t)row * w->cols + col);
}

/* Mask of the first n (0..16) lanes. */
static inline __mmask16
lanes(int n)
{
	return (__mmask16)((1u << n) - 1u);
}

/* 16 weights of any dtype at p to fp32; lanes >= n read nothing and are
 * zero. */
static inline __m512
load_w(const char *p, enum kern_dtype dt, __mmask16 mk)
{
	if (dt == KERN_F32)
		return _mm512_maskz_loadu_ps(mk, p);
	__m256i h = _mm256_maskz_loadu_epi16(mk, p);
	if (dt == KERN_BF16)
		return _mm512_castsi512_ps(
		    _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
	return _mm512_cvtph_ps(h);
}

/* Same for 16 full lanes. */
static inline __m512
load_w16(const char *p, enum kern_dtype dt)
{
	if (dt == KERN_F32)
		return _mm512_loadu_ps(p);
	__m256i h = _mm256_loadu_si256((const __m256i *)p);
	if (dt == KERN_BF16)
		return _mm512_castsi512_ps(
		    _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
	return _mm512_cvtph_ps(h);
}

/* ---- GEMM: MR x rows × 32 W rows, W packed k-major ---- */

#define NR      32             /* W rows per panel: two vectors */
#define MR      12             /* x rows per micro-kernel call, at most */
#define GEMM_NB 128            /* W rows per packed block (128 KiB, in L2) */
#define GEMM_MC 96             /* x rows copied per block (100 KiB, in L2) */
#define XLD     (KERN_KC + 16) /* xbuf row stride, floats: not 4 KiB */

/*
 * Transpose a 16×16 fp32 block held in r[0..15] (r[i][j] = A[i][j]) so
 * that r[j][i] = A[i][j]: unpack pairs, shuffle quads, then exchange
 * 128-bit lanes.
 */
static inline __attribute__((always_inline)) void
transpose16(__m512 r[16])
{
	__m512 t[16], u[16];

#pragma GCC unroll 8
	for (int i = 0; i < 8; i++) {
		t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
		t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
	}
	/* u[4g + c], 128-bit lane q: rows 4g..4g+3 of column 4q + c */
#pragma GCC unroll 4
	for (int g = 0; g < 4; g++) {
		__m512 a = t[4 * g], b = t[4 * g + 1];
		__m512 c = t[4 * g + 2], d = t[4 * g + 3];

		u[4 * g] = _mm512_shuffle_ps(a, c, _MM_SHUFFLE(1, 0, 1, 0));
		u[4 * g + 1] = _mm512_shuffle_ps(a, c, _MM_SHUFFLE(3, 2, 3, 2));
		u[4 * g + 2] = _mm512_shuffle_ps(b, d, _MM_SHUFFLE(1, 0, 1, 0));
		u[4 * g + 3] = _mm512_shuffle_ps(b, d, _MM_SHUFFLE(3, 2, 3, 2));
	}
	/* column 4q + c gathers lane q of u[c], u[4 + c], u[8 + c],
	 * u[12 + c] */
#pragma GCC unroll 4
	for (int c = 0; c < 4; c++) {
		__m512 lo01 = _mm512_shuffle_f32x4(u[c], u[4 + c],
		                                   _MM_SHUFFLE(1, 0, 1, 0));
		__m512 hi01 = _mm512_shuffle_f32x4(u[c], u[4 + c],
		                                   _MM_SHUFFLE(3, 2, 3, 2));
		__m512 lo23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c],
		                                   _MM_SHUFFLE(1, 0, 1, 0));
		__m512 hi23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c],
		                                   _MM_SHUFFLE(3, 2, 3, 2));

		r[c] =
		    _mm512_shuffle_f32x4(lo01, lo23, _MM_SHUFFLE(2, 0, 2, 0));
		r[4 + c] =
		    _mm512_shuffle_f32x4(lo01, lo23, _MM_SHUFFLE(3, 1, 3, 1));
		r[8 + c] =
		    _mm512_shuffle_f32x4(hi01, hi23, _MM_SHUFFLE(2, 0, 2, 0));
		r[12 + c] =
		    _mm512_shuffle_f32x4(hi01, hi23, _MM_SHUFFLE(3, 1, 3, 1));
	}
}

/*
 * Pack rows [j0, j0 + nr) (nr <= NR) × columns [kb, kb + kc) of W as one
 * k-major panel: P[k * NR + r] = W[j0 + r][kb + k] in fp32, rows nr..NR-1
 * zero.  16×16 blocks are converted and transposed in registers.  dt is a
 * compile-time constant in each caller (pack_panel).
 */
static inline __attribute__((always_inline)) void
pack_dt(const enum kern_dtype dt, float *P, const struct kern_mat *w, int j0,
        int nr, int kb, int kc)
{
	const size_t es = dt == KERN_F32 ? 4 : 2;
	const size_t ld = es * (size_t)w->cols; /* bytes per W row */

	for (int h = 0; h < NR; h += 16) {
		const char *src = w_at(w, j0 + h, kb);
		int nrow = nr - h < 16 ? nr - h : 16;

		for (int k = 0; k < kc; k += 16) {
			int nk = kc - k < 16 ? kc - k : 16;
			__mmask16 mk = lanes(nk);
			__m512 r[16];

#pragma GCC unroll 16
			for (int i = 0; i < 16; i++)
				r[i] = i < nrow ? load_w(src + i * ld + es * k,
				                         dt, mk)
				                : _mm512_setzero_ps();
			transpose16(r);
#pragma GCC unroll 16
			for (int i = 0; i < 16; i++)
				if (i < nk)
					_mm512_store_ps(
					    P + (size_t)(k + i) * NR + h, r[i]);
		}
	}
}

static void
pack_panel(float *P, const struct kern_mat *w, int j0, int nr, int kb, int kc)
{
	switch (w->dtype) {
	case KERN_F32:
		pack_dt(KERN_F32, P, w, j0, nr, kb, kc);
		break;
	case KERN_BF16:
		pack_dt(KERN_BF16, P, w, j0, nr, kb, kc);
		break;
	case KERN_F16:
	default:
		pack_dt(KERN_F16, P, w, j0, nr, kb, kc);
		break;
	}
}

/*
 * The micro-kernel: rows x_0..x_{mr-1} (x + i * ldx) times the panel P
 * over kc columns, giving an mr × 32 tile; y rows at y + i * ldy get the
 * tile (first k block) or have it added; only the first nr columns are
 * written.  Each element is one accumulator summed in k order.
 */
static inline __attribute__((always_inline)) void
micro(const int mr, const float *x, size_t ldx, const float *P, int kc,
      float *y, size_t ldy, int nr, int first)
{
	__m512 acc[MR][2];

#pragma GCC unroll 12
	for (int i = 0; i < mr; i++)
		acc[i][0] = acc[i][1] = _mm512_setzero_ps();
	for (int k = 0; k < kc; k++) {
		__m512 w0 = _mm512_load_ps(P + (size_t)k * NR);
		__m512 w1 = _mm512_load_ps(P + (size_t)k * NR + 16);

#pragma GCC unroll 12
		for (int i = 0; i < mr; i++) {
			__m512 xv = _mm512_set1_ps(x[(size_t)i * ldx + k]);

			acc[i][0] = _mm512_fmadd_ps(xv, w0, acc[i][0]);
			acc[i][1] = _mm512_fmadd_ps(xv, w1, acc[i][1]);
		}
	}
	__mmask16 m0 = lanes(nr < 16 ? nr : 16);
	__mmask16 m1 = lanes(nr > 16 ? nr - 16 : 0);

#pragma GCC unroll 12
	for (int i = 0; i < mr; i++) {
		float *yi = y + (size_t)i * ldy;

		if (!first) {
			acc[i][0] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, yi),
			                          acc[i][0]);
			acc[i][1] = _mm512_add_ps(
			    _mm512_maskz_loadu_ps(m1, yi + 16), acc[i][1]);
		}
		_mm512_mask_storeu_ps(yi, m0, acc[i][0]);
		_mm512_mask_storeu_ps(yi + 16, m1, acc[i][1]);
	}
}

/* micro() with mr a compile-time constant. */
static void
micro_any(int mr, const float *x, size_t ldx, const float *P, int kc, float *y,
          size_t ldy, int nr, int first)
{
	switch (mr) {
#define CASE(n)                                                                \
	case n:                                                                \
		micro(n, x, ldx, P, kc, y, ldy, nr, first);                    \
		break;
		CASE(1)
		CASE(2)
		CASE(3)
		CASE(4)
		CASE(5)
		CASE(6)
		CASE(7)
		CASE(8)
		CASE(9)
		CASE(10)
		CASE(11)
		CASE(12)
#undef CASE
	default:
		break;
	}
}

/*
 * Software prefetch of the next blocks while this one is being multiplied.
 * A block of W is GEMM_NB short pieces of rows that are far apart (a row
 * of ff_out is 37 KB), and a block of x likewise, which the hardware
 * prefetchers do not follow: without this, packing W would wait on DRAM
 * and copying x on L3.  A stream is `rows` pieces of `len` bytes, `stride`
 * bytes apart, issued a few lines before each micro-kernel call.
 */
struct pf {
	const char *base; /* first byte of the first piece */
	size_t stride;    /* bytes from one piece to the next */
	size_t len;       /* bytes per piece */
	int lpr;          /* lines per piece, one more for misalignment */
	int next, total;  /* lines issued so far, lines in all */
};

static void
pf_set(struct pf *pf, const void *base, size_t stride, int rows, size_t len)
{
	pf->base = base;
	pf->stride = stride;
	pf->len = len;
	pf->lpr = (int)((len + 63) / 64) + 1;
	pf->next = 0;
	pf->total = rows > 0 && len > 0 ? rows * pf->lpr : 0;
}

/* Issue the next n prefetches of the stream into L2. */
static inline void
pf_step(struct pf *pf, int n)
{
	for (; n > 0 && pf->next < pf->total; n--, pf->next++) {
		int r = pf->next / pf->lpr;
		size_t off = 64 * (size_t)(pf->next % pf->lpr);

		if (off >= pf->len)
			off = pf->len - 1; /* the line holding the last byte */
		_mm_prefetch(pf->base + pf->stride * (size_t)r + off,
		             _MM_HINT_T1);
	}
}

/* The two streams of gemm_block and how many lines each per call. */
struct pfs {
	struct pf w, x;
	int w_per_call, x_per_call;
};

/*
 * One packed W block (nb rows at y column jb, kc columns from kb) times
 * the mc rows of x in xbuf, into y rows ic..ic+mc-1: every group of MR
 * rows against each panel while the panel stays in L1, prefetching the
 * next blocks of W and x before each micro-kernel call.
 */
static void
gemm_block(float *y, size_t N, int ic, int mc, const float *xbuf,
           const float *buf, int jb, int nb, int kc, int first, struct pfs *pf)
{
	for (int p = 0; p < nb; p += NR) {
		int nr = nb - p < NR ? nb - p : NR;

		for (int i0 = 0; i0 < mc; i0 += MR) {
			/* the next tile's y lines, which would miss: rows
			 * are N floats apart */
			for (int i = i0 + MR; i < i0 + 2 * MR && i < mc; i++) {
				const float *yn =
				    y + (size_t)(ic + i) * N + jb + p;

				_mm_prefetch((const char *)yn, _MM_HINT_T0);
				_mm_prefetch((const char *)(yn + nr - 1),
				             _MM_HINT_T0);
			}
			pf_step(&pf->w, pf->w_per_call);
			pf_step(&pf->x, pf->x_per_call);
			micro_any(mc - i0 < MR ? mc - i0 : MR,
			          xbuf + (size_t)i0 * XLD, XLD,
			          buf + (size_t)p * KERN_KC, kc,
			          y + (size_t)(ic + i0) * N + jb + p, N, nr,
			          first);
		}
	}
}

/*
 * y rows for W rows [r0, r1): for each block of GEMM_NB W rows and each
 * KERN_KC-column block, pack the W block into k-major panels (converted
 * once, reused by all m rows of x); then, GEMM_MC rows of x at a time,
 * copy those rows' columns into xbuf with a stride that is not a multiple
 * of 4 KiB (x rows 4 KiB apart, as in the ViT, would all fall into the
 * same L1 sets), and sweep them past each panel (gemm_block).
 */
static void
gemm(float *y, const float *x, int m, const struct kern_mat *w,
     const float *bias, int r0, int r1)
{
	const int K = w->cols, N = w->rows;
	const size_t es = w->dtype == KERN_F32 ? 4 : 2;
	_Alignas(64) float buf[GEMM_NB * KERN_KC];
	_Alignas(64) float xbuf[GEMM_MC * XLD];
	struct pfs pf;

	for (int jb = r0; jb < r1; jb += GEMM_NB) {
		int nb = r1 - jb < GEMM_NB ? r1 - jb : GEMM_NB;

		for (int kb = 0; kb < K; kb += KERN_KC) {
			int kc = K - kb < KERN_KC ? K - kb : KERN_KC;
			int per_ic = (nb + NR - 1) / NR * (GEMM_MC / MR);
			int calls = (m + MR - 1) / MR * ((nb + NR - 1) / NR);
			int jn = jb, kn = kb + KERN_KC; /* the next W block */

			if (kn >= K) {
				jn = jb + GEMM_NB;
				kn = 0;
			}
			pf_set(
			    &pf.w, w_at(w, jn < r1 ? jn : r1 - 1, kn),
			    es * (size_t)K,
			    r1 - jn < GEMM_NB ? r1 - jn : GEMM_NB,
			    es * (size_t)(K - kn < KERN_KC ? K - kn : KERN_KC));
			pf.w_per_call = (pf.w.total + calls - 1) / calls;
			for (int p = 0; p < nb; p += NR)
				pack_panel(buf + (size_t)p * KERN_KC, w, jb + p,
				           nb - p < NR ? nb - p : NR, kb, kc);
			for (int ic = 0; ic < m; ic += GEMM_MC) {
				int mc = m - ic < GEMM_MC ? m - ic : GEMM_MC;
				int in = ic + GEMM_MC, kx = kb; /* next x */

				if (in >= m) {
					in = 0;
					kx = kn;
				}
				pf_set(&pf.x, x + (size_t)in * K + kx,
				       sizeof(float) * (size_t)K,
				       m - in < GEMM_MC ? m - in : GEMM_MC,
				       sizeof(float) * (size_t)(K - kx < KERN_KC
				                                    ? K - kx
				                                    : KERN_KC));
				pf.x_per_call =
				    (pf.x.total + per_ic - 1) / per_ic;
				for (int i = 0; i < mc; i++)
					memcpy(xbuf + (size_t)i * XLD,
					       x + (size_t)(ic + i) * K + kb,
					       (size_t)kc * sizeof(float));
				gemm_block(y, (size_t)N, ic, mc, xbuf, buf, jb,
				           nb, kc, kb == 0, &pf);
			}
		}
		if (bias != NULL)
			for (int i = 0; i < m; i++)
				for (int j = jb; j < jb + nb; j++)
					y[(size_t)i * N + j] += bias[j];
	}
}

/* ---- GEMV: 1 x row × 32 W rows, streaming W once ---- */

/*
 * m == 1 (decode) streams every W row once.  To give exactly the bits of
 * the GEMM above (so a row's result does not depend on m), each element
 * is again one accumulator summed in k order within KERN_KC blocks, so W
 * is transposed in registers on the way: 16 rows × 16 columns at a time
 * turn into 16 vectors, one per column, each holding those 16 rows.
 *
 * BF16 saves half the shuffles: a 512-bit load of a row holds 16 pairs of
 * adjacent bf16 columns, and the 16×16 transpose of those 32-bit pairs
 * leaves one vector per column pair, whose even column is the pair shifted
 * left by 16 and whose odd column is the pair masked to its high half.
 *
 * F32 and F16 take 16 columns per transpose (gemv_dt), BF16 32 (gemv_bf16).
 */
#define GV_ROWS 32 /* rows per tile of gemv_dt: 2 groups (see gemv_bf16) */

/* Pointers to the rows [j0, j0 + GV_ROWS), clamped to r1 - 1. */
static inline __attribute__((always_inline)) void
gv_rows(const char *rowp[GV_ROWS], const struct kern_mat *w, int j0, int r1)
{
	for (int i = 0; i < GV_ROWS; i++)
		rowp[i] = w_at(w, j0 + i < r1 ? j0 + i : r1 - 1, 0);
}

/* Store 16-row group g of the results s (with bias) for rows j0.. < r1. */
static inline void
gv_store(float *y, const float *bias, __m512 s, int j, int r1)
{
	int n = r1 - j < 16 ? r1 - j : 16;

	if (n <= 0)
		return;
	if (bias != NULL)
		s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(lanes(n), bias + j));
	_mm512_mask_storeu_ps(y + j, lanes(n), s);
}

/*
 * BF16: GVB_GROUPS groups of 16 rows at a time.  Phase 1 transposes each
 * group's 16 rows × 32 columns into T (L1); phase 2 walks the 32 columns
 * in order, feeding every group's accumulator, so independent FMA chains
 * overlap.  More groups would hide more FMA latency, but each row is a
 * separate read stream and the hardware prefetchers track only so many:
 * with 8 groups (128 streams) decode from DRAM ran at a third of the
 * speed of 2 groups (32 streams), measured.
 */
#define GVB_GROUPS 2

static void
gemv_bf16(float *y, const float *x, const struct kern_mat *w, const float *bias,
          int r0, int r1)
{
	const int K = w->cols;
	const __m512i hi_mask = _mm512_set1_epi32((int)0xffff0000u);
	const char *rowp[16 * GVB_GROUPS];
	_Alignas(64) float T[GVB_GROUPS][16][16];

	for (int j0 = r0; j0 < r1; j0 += 16 * GVB_GROUPS) {
		int ng = (r1 - j0 + 15) / 16;
		__m512 s[GVB_GROUPS];

		if (ng > GVB_GROUPS)
			ng = GVB_GROUPS;
		for (int i = 0; i < 16 * GVB_GROUPS; i++)
			rowp[i] = w_at(w, j0 + i < r1 ? j0 + i : r1 - 1, 0);
		for (int kb = 0; kb < K; kb += KERN_KC) {
			int kc = K - kb < KERN_KC ? K - kb : KERN_KC;
			__m512 acc[GVB_GROUPS];

#pragma GCC unroll 8
			for (int g = 0; g < GVB_GROUPS; g++)
				acc[g] = _mm512_setzero_ps();
			for (int k = 0; k < kc; k += 32) {
				int nk = kc - k < 32 ? kc - k : 32;
				__mmask32 mk =
				    nk == 32 ? (__mmask32)0xffffffffu
				             : (__mmask32)((1u << nk) - 1u);
				const float *xk = x + kb + k;
				size_t off = 2 * (size_t)(kb + k);

				/* phase 1: T[g][d] = column pair d of the
				 * group's 16 rows */
				for (int g = 0; g < ng; g++) {
					__m512 r[16];

#pragma GCC unroll 16
					for (int i = 0; i < 16; i++)
						r[i] = _mm512_castsi512_ps(
						    _mm512_maskz_loadu_epi16(
						        mk, rowp[16 * g + i] +
						                off));
					transpose16(r);
#pragma GCC unroll 16
					for (int d = 0; d < 16; d++)
						_mm512_store_ps(T[g][d], r[d]);
				}
				/* phase 2: the columns in order */
				if (nk == 32) {
#pragma GCC unroll 2
					for (int d = 0; d < 16; d++) {
						__m512 xl =
						    _mm512_set1_ps(xk[2 * d]);
						__m512 xh = _mm512_set1_ps(
						    xk[2 * d + 1]);

#pragma GCC unroll 8
						for (int g = 0; g < GVB_GROUPS;
						     g++) {
							if (g >= ng)
								break;
							__m512i v =
							    _mm512_load_si512(
							        T[g][d]);
							acc[g] = _mm512_fmadd_ps(
							    xl,
							    _mm512_castsi512_ps(
							        _mm512_slli_epi32(
							            v, 16)),
							    acc[g]);
							acc[g] = _mm512_fmadd_ps(
							    xh,
							    _mm512_castsi512_ps(
							        _mm512_and_si512(
							            v,
							            hi_mask)),
							    acc[g]);
						}
					}
				} else {
					for (int c = 0; c < nk; c++) {
						__m512 xv =
						    _mm512_set1_ps(xk[c]);

#pragma GCC unroll 8
						for (int g = 0; g < GVB_GROUPS;
						     g++) {
							if (g >= ng)
								break;
							__m512i v =
							    _mm512_load_si512(
							        T[g][c / 2]);

							v = c % 2 == 0
							        ? _mm512_slli_epi32(
							              v, 16)
							        : _mm512_and_si512(
							              v,
							              hi_mask);
							acc[g] = _mm512_fmadd_ps(
							    xv,
							    _mm512_castsi512_ps(
							        v),
							    acc[g]);
						}
					}
				}
			}
#pragma GCC unroll 8
			for (int g = 0; g < GVB_GROUPS; g++)
				s[g] = kb == 0 ? acc[g]
				               : _mm512_add_ps(s[g], acc[g]);
		}
		for (int g = 0; g < ng; g++)
			gv_store(y, bias, s[g], j0 + 16 * g, r1);
	}
}

/* F32 and F16: convert 16×16 blocks to fp32, then transpose. */
static inline __attribute__((always_inline)) void
gemv_dt(const enum kern_dtype dt, float *y, const float *x,
        const struct kern_mat *w, const float *bias, int r0, int r1)
{
	const int K = w->cols;
	const size_t es = dt == KERN_F32 ? 4 : 2;
	const char *rowp[GV_ROWS];

	for (int j0 = r0; j0 < r1; j0 += GV_ROWS) {
		int ng = (r1 - j0 + 15) / 16 < GV_ROWS / 16
		             ? (r1 - j0 + 15) / 16
		             : GV_ROWS / 16;
		__m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(),
		               _mm512_setzero_ps(), _mm512_setzero_ps()};

		gv_rows(rowp, w, j0, r1);
		for (int kb = 0; kb < K; kb += KERN_KC) {
			int kc = K - kb < KERN_KC ? K - kb : KERN_KC;
			__m512 acc[4] = {
			    _mm512_setzero_ps(), _mm512_setzero_ps(),
			    _mm512_setzero_ps(), _mm512_setzero_ps()};

			for (int k = 0; k < kc; k += 16) {
				int nk = kc - k < 16 ? kc - k : 16;
				__mmask16 mk = lanes(nk);
				const float *xk = x + kb + k;
				size_t off = es * (size_t)(kb + k);

				for (int g = 0; g < ng; g++) {
					__m512 r[16];
					__m512 a = acc[g];

#pragma GCC unroll 16
					for (int i = 0; i < 16; i++)
						r[i] = load_w(rowp[16 * g + i] +
						                  off,
						              dt, mk);
					transpose16(r);
					if (nk == 16) {
#pragma GCC unroll 16
						for (int c = 0; c < 16; c++)
							a = _mm512_fmadd_ps(
							    _mm512_set1_ps(
							        xk[c]),
							    r[c], a);
					} else {
#pragma GCC unroll 16
						for (int c = 0; c < 16; c++) {
							if (c >= nk)
								break;
							a = _mm512_fmadd_ps(
							    _mm512_set1_ps(
							        xk[c]),
							    r[c], a);
						}
					}
					acc[g] = a;
				}
			}
			for (int g = 0; g < ng; g++)
				s[g] = kb == 0 ? acc[g]
				               : _mm512_add_ps(s[g], acc[g]);
		}
		for (int g = 0; g < ng; g++)
			gv_store(y, bias, s[g], j0 + 16 * g, r1);
	}
}

static void
gemv(float *y, const float *x, const struct kern_mat *w, const float *bias,
     int r0, int r1)
{
	switch (w->dtype) {
	case KERN_BF16:
		gemv_bf16(y, x, w, bias, r0, r1);
		break;
	case KERN_F32:
		gemv_dt(KERN_F32, y, x, w, bias, r0, r1);
		break;
	case KERN_F16:
	default:
		gemv_dt(KERN_F16, y, x, w, bias, r0, r1);
		break;
	}
}

static void
linear_avx512(float *y, const float *x, int m, const struct kern_mat *w,
              const float *bias, int r0, int r1)
{
	if (m == 1)
		gemv(y, x, w, bias, r0, r1);
	else
		gemm(y, x, m, w, bias, r0, r1);
}

/* ---- Vector helpers ---- */

static float
dot_f32_avx512(const float *a, const float *b, size_t n)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	size_t i = 0;

	for (; i + 64 <= n; i += 64) {
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i),
		                     _mm512_loadu_ps(b + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16),
		                     _mm512_loadu_ps(b + i + 16), s1);
		s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32),
		                     _mm512_loadu_ps(b + i + 32), s2);
		s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48),
		                     _mm512_loadu_ps(b + i + 48), s3);
	}
	for (; i + 16 <= n; i += 16)
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i),
		                     _mm512_loadu_ps(b + i), s0);
	if (i < n) {
		__mmask16 mk = lanes((int)(n - i));

		s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a + i),
		                     _mm512_maskz_loadu_ps(mk, b + i), s1);
	}
	s0 = _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3));
	return _mm512_reduce_add_ps(s0);
}

/* n weights of dtype t (BF16 or F16) at src to float. */
static void
convert(float *dst, const void *src, size_t n, enum kern_dtype t)
{
	const char *p = src;
	size_t i = 0;

	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(dst + i, load_w16(p + 2 * i, t));
	if (i < n) {
		__mmask16 mk = lanes((int)(n - i));

		_mm512_mask_storeu_ps(dst + i, mk, load_w(p + 2 * i, t, mk));
	}
}

static void
bf16_to_f32_avx512(float *dst, const void *src, size_t n)
{
	convert(dst, src, n, KERN_BF16);
}

static void
f16_to_f32_avx512(float *dst, const void *src, size_t n)
{
	convert(dst, src, n, KERN_F16);
}

const struct kern kern_avx512 = {
    .name = "avx512",
    .linear = linear_avx512,
    .dot_f32 = dot_f32_avx512,
    .bf16_to_f32 = bf16_to_f32_avx512,
    .f16_to_f32 = f16_to_f32_avx512,
};

#endif /* __x86_64__ */
