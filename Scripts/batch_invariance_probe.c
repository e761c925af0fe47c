// Dev-time check (CI never runs it): does OpenBLAS on this CPU have the property idpo's batch-invariant
// training relies on (Sources/Kernels/Matmul.swift)? Finds the row tile exactly as Matmul.rowTile's
// probe does, then checks that a 7-row sequence gets the same bits alone and after a 30-row one (both
// aligned to the tile) for x·Wᵀ and x·W at model shapes, with products split as batchInvariantGemm
// splits them on 1–16 threads. Built static so it runs on machines without the Debian packages:
//
//   gcc -O2 -static Scripts/batch_invariance_probe.c -o .build-devcheck/batch_invariance_probe \
//       /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.a -lpthread -lm
//   .build-devcheck/batch_invariance_probe; OPENBLAS_CORETYPE=SkylakeX .build-devcheck/batch_invariance_probe
//
// Measured 2026-11-22: AMD EPYC (Zen kernels) tile 12; Intel Xeon with AVX-512: native (Prescott
// kernels) 12, Haswell 12, SkylakeX 16, Cooperlake 16 — 0 invariance failures everywhere.
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
extern char *openblas_get_corename(void);
static unsigned long long st = 0x9E3779B97F4A7C15ULL;
static float rnd(void){ st = st*6364136223846793005ULL + 1442695040888963407ULL; return (float)((int)(st>>33)) / 2147483647.0f - 0.5f; }
static void gemm(int transB, int m, int n, int k, const float*a, int lda, const float*b, int ldb, float*c, int ldc){
  cblas_sgemm(CblasRowMajor, CblasNoTrans, transB?CblasTrans:CblasNoTrans, m,n,k,1,a,lda,b,ldb,0,c,ldc);
}
static int probe(void){
  int k=96,n=80,total=480; float *x=malloc(4*total*k),*w=malloc(4*n*k),*ref=malloc(4*total*n),*part=malloc(4*total*n);
  for(int i=0;i<total*k;i++)x[i]=rnd(); for(int i=0;i<n*k;i++)w[i]=rnd();
  int cands[]={12,16,24,32,48,96,160,240,480};
  for(int ci=0;ci<9;ci++){int t=cands[ci],ok=1;
    for(int tb=1;tb>=0&&ok;tb--){ gemm(tb,total,n,k,x,k,w,tb?k:n,ref,n);
      int mults[]={1,2,3,5};
      for(int mi=0;mi<4&&ok;mi++){int mu=mults[mi]; if(t*(mu+1)>total)continue;
        for(int f=0;f<2&&ok;f++){int first=f?t:0,rows=t*mu; gemm(tb,rows,n,k,x+first*k,k,w,tb?k:n,part,n);
          if(memcmp(part,ref+first*n,4*rows*n))ok=0;}}}
    if(ok)return t;}
  return 1;
}
static int pad(int r,int t){return (r+t-1)/t*t;}
// a 7-row sequence alone vs after a 30-row one (aligned to the tile); column split at 64 boundaries when n>=2048
static int check(int tile,int IN,int O,int threads){
  int lenA=7,lenB=30,rA=pad(lenA,tile),rB=pad(lenB,tile),rAB=rA+rB;
  float *w=malloc(4*O*IN),*xa=calloc(rA*IN,4),*xab=calloc(rAB*IN,4),*ya=malloc(4*rA*O),*yab=malloc(4*rAB*O);
  for(int i=0;i<O*IN;i++)w[i]=rnd()*0.1f;
  for(int i=0;i<lenA*IN;i++){float v=rnd();xa[i]=v;xab[rB*IN+i]=v;} for(int i=0;i<lenB*IN;i++)xab[i]=rnd();
  int bad=0;
  for(int tb=1;tb>=0;tb--){
    // emulate batchInvariantGemm: row blocks of lcm(16,tile) or columns split at 64 for wide outputs
    int align=16; while(align%tile)align+=16;
    for(int which=0;which<2;which++){int m=which?rAB:rA; float*x=which?xab:xa,*y=which?yab:ya;
      if(O>=2048){int blocks=(O+63)/64; for(int p=0;p<threads;p++){int lo=blocks*p/threads*64,hi=blocks*(p+1)/threads*64; if(hi>O)hi=O; if(lo>=hi)continue;
          gemm(tb,m,hi-lo,IN,x,IN,tb?w+lo*IN:w+lo,tb?IN:O,y+lo,O);} }
      else { int blocks=(m+align-1)/align; int parts=threads<blocks?threads:blocks; for(int p=0;p<parts;p++){int lo=blocks*p/parts*align,hi=blocks*(p+1)/parts*align; if(hi>m)hi=m; if(lo>=hi)continue;
          gemm(tb,hi-lo,O,IN,x+lo*IN,IN,w,tb?IN:O,y+lo*O,O);} }
    }
    if(memcmp(ya,yab+rB*O,4*lenA*O))bad++;
  }
  free(w);free(xa);free(xab);free(ya);free(yab);
  return bad;
}
int main(){
  openblas_set_num_threads(1);
  FILE*f=fopen("/proc/cpuinfo","r"); char line[512]; while(f&&fgets(line,512,f)) if(!strncmp(line,"model name",10)){printf("%s",line);break;} if(f)fclose(f);
  printf("OpenBLAS core: %s; avx512f: %s\n", openblas_get_corename(), __builtin_cpu_supports("avx512f")?"yes":"no");
  int t=probe(); printf("row tile: %d\n",t);
  int shapes[][2]={{64,128},{288,768},{768,288},{288,32000},{768,2048},{2048,768}};
  int total=0;
  for(int s=0;s<6;s++)for(int th=1;th<=16;th*=2){int b=check(t,shapes[s][0],shapes[s][1],th); total+=b; if(b)printf("  %d->%d threads %d: %d products differ\n",shapes[s][0],shapes[s][1],th,b);}
  printf("invariance failures: %d\n",total);
  return total!=0;
}
