// HDF5 C API. Handles and flags that are macros (Swift cannot import them) are exposed
// as static inline functions.
#include <hdf5.h>

static inline hid_t chdf5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t chdf5_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t chdf5_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t chdf5_c_s1(void) { return H5T_C_S1; }
static inline hid_t chdf5_p_default(void) { return H5P_DEFAULT; }
static inline hid_t chdf5_s_all(void) { return H5S_ALL; }
static inline unsigned chdf5_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned chdf5_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline hid_t chdf5_p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t chdf5_e_default(void) { return H5E_DEFAULT; }
static inline hid_t chdf5_native_uint64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t chdf5_native_int32(void) { return H5T_NATIVE_INT32; }
static inline unsigned chdf5_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline hid_t chdf5_p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t chdf5_p_group_create(void) { return H5P_GROUP_CREATE; }
static inline unsigned chdf5_obj_all(void) { return H5F_OBJ_ALL; }

// Reserving disk space for an HDF5 file before its final flush (see HDF5File.finishWriting):
// Linux fallocate(2) with FALLOC_FL_KEEP_SIZE (1), so the file's size and bytes stay HDF5's, and
// without glibc's posix_fallocate emulation, which would write a byte per block on filesystems
// that cannot reserve. Returns 0, or an errno value (EOPNOTSUPP where unsupported).
#include <errno.h>
#include <sys/types.h>
#ifdef __linux__
extern int fallocate(int fd, int mode, off_t offset, off_t len);
static inline int chdf5_reserve_space(int fd, off_t length) {
    return fallocate(fd, 1 /* FALLOC_FL_KEEP_SIZE */, 0, length) == 0 ? 0 : errno;
}
#else
static inline int chdf5_reserve_space(int fd, off_t length) { (void)fd; (void)length; return EOPNOTSUPP; }
#endif
