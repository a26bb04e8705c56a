using System.Reflection;
using System.Runtime.InteropServices;

namespace RdmaCs.Bindings.Generator.Clang;

// The few libclang C API entry points the generator uses, declared by hand: this is the generator's own
// bootstrap, not product code (the product's bindings are what the generator writes).
// Reference: clang-c/Index.h of LLVM 14.

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXCursor
{
    public int Kind;
    public int XData;
    public void* Data0, Data1, Data2;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXType
{
    public int Kind;
    public void* Data0, Data1;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXString
{
    public void* Data;
    public uint Flags;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXSourceLocation
{
    public void* Data0, Data1;
    public uint IntData;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXUnsavedFile
{
    public byte* Filename;
    public byte* Contents;
    public nuint Length;
}

internal static class CursorKind
{
    public const int StructDecl = 2, UnionDecl = 3, EnumDecl = 5, FieldDecl = 6, EnumConstantDecl = 7,
        FunctionDecl = 8, VarDecl = 9, TypedefDecl = 20, MacroDefinition = 501;
}

internal static class TypeKind
{
    public const int Invalid = 0, Void = 2, Bool = 3, Char_U = 4, UChar = 5, UShort = 8, UInt = 9, ULong = 10,
        ULongLong = 11, Char_S = 13, SChar = 14, Short = 16, Int = 17, Long = 18, LongLong = 19, Float = 21,
        Double = 22, Pointer = 101, Record = 105, Enum = 106, Typedef = 107, FunctionNoProto = 110,
        FunctionProto = 111, ConstantArray = 112, IncompleteArray = 114, Elaborated = 119, Attributed = 163;
}

internal static unsafe partial class LibClang
{
    private const string Library = "clang";

    static LibClang()
    {
        // Debian's libclang1-14 installs libclang-14.so.1 only; other systems have libclang.so.
        NativeLibrary.SetDllImportResolver(typeof(LibClang).Assembly, (name, assembly, path) =>
        {
            if (name != Library)
            {
                return IntPtr.Zero;
            }
            foreach (string candidate in new[] { "libclang-14.so.1", "libclang.so.1", "libclang.so" })
            {
                if (NativeLibrary.TryLoad(candidate, assembly, path, out IntPtr handle))
                {
                    return handle;
                }
            }
            throw new DllNotFoundException("libclang was not found: install Debian's libclang1-14 (scripts/setup.sh does)");
        });
    }

    public const uint DetailedPreprocessingRecord = 0x01, SkipFunctionBodies = 0x40;
    public const int StorageStatic = 3;
    public const int EvalInt = 1;

    [LibraryImport(Library)] public static partial void* clang_createIndex(int excludeDeclarationsFromPch, int displayDiagnostics);
    [LibraryImport(Library)] public static partial void clang_disposeIndex(void* index);
    [LibraryImport(Library)] public static partial void* clang_parseTranslationUnit(void* index, byte* sourceFilename, byte** arguments, int argumentCount, CXUnsavedFile* unsavedFiles, uint unsavedCount, uint options);
    [LibraryImport(Library)] public static partial void clang_disposeTranslationUnit(void* unit);
    [LibraryImport(Library)] public static partial uint clang_getNumDiagnostics(void* unit);
    [LibraryImport(Library)] public static partial void* clang_getDiagnostic(void* unit, uint index);
    [LibraryImport(Library)] public static partial int clang_getDiagnosticSeverity(void* diagnostic);
    [LibraryImport(Library)] public static partial CXString clang_formatDiagnostic(void* diagnostic, uint options);
    [LibraryImport(Library)] public static partial void clang_disposeDiagnostic(void* diagnostic);
    [LibraryImport(Library)] public static partial CXCursor clang_getTranslationUnitCursor(void* unit);
    [LibraryImport(Library)] public static partial uint clang_visitChildren(CXCursor parent, delegate* unmanaged<CXCursor, CXCursor, void*, int> visitor, void* data);
    [LibraryImport(Library)] public static partial int clang_getCursorKind(CXCursor cursor);
    [LibraryImport(Library)] public static partial CXString clang_getCursorSpelling(CXCursor cursor);
    [LibraryImport(Library)] public static partial CXType clang_getCursorType(CXCursor cursor);
    [LibraryImport(Library)] public static partial CXCursor clang_getCursorDefinition(CXCursor cursor);
    [LibraryImport(Library)] public static partial uint clang_isCursorDefinition(CXCursor cursor);
    [LibraryImport(Library)] public static partial uint clang_isInvalidDeclaration(CXCursor cursor);
    [LibraryImport(Library)] public static partial CXSourceLocation clang_getCursorLocation(CXCursor cursor);
    [LibraryImport(Library)] public static partial void clang_getFileLocation(CXSourceLocation location, void** file, uint* line, uint* column, uint* offset);
    [LibraryImport(Library)] public static partial CXString clang_getFileName(void* file);
    [LibraryImport(Library)] public static partial uint clang_Cursor_isMacroFunctionLike(CXCursor cursor);
    [LibraryImport(Library)] public static partial uint clang_Cursor_isBitField(CXCursor cursor);
    [LibraryImport(Library)] public static partial uint clang_Cursor_isAnonymousRecordDecl(CXCursor cursor);
    [LibraryImport(Library)] public static partial long clang_Cursor_getOffsetOfField(CXCursor cursor);
    [LibraryImport(Library)] public static partial int clang_Cursor_getStorageClass(CXCursor cursor);
    [LibraryImport(Library)] public static partial uint clang_Cursor_isFunctionInlined(CXCursor cursor);
    [LibraryImport(Library)] public static partial void* clang_Cursor_Evaluate(CXCursor cursor);
    [LibraryImport(Library)] public static partial int clang_EvalResult_getKind(void* result);
    [LibraryImport(Library)] public static partial uint clang_EvalResult_isUnsignedInt(void* result);
    [LibraryImport(Library)] public static partial ulong clang_EvalResult_getAsUnsigned(void* result);
    [LibraryImport(Library)] public static partial long clang_EvalResult_getAsLongLong(void* result);
    [LibraryImport(Library)] public static partial void clang_EvalResult_dispose(void* result);
    [LibraryImport(Library)] public static partial long clang_getEnumConstantDeclValue(CXCursor cursor);
    [LibraryImport(Library)] public static partial ulong clang_getEnumConstantDeclUnsignedValue(CXCursor cursor);
    [LibraryImport(Library)] public static partial CXType clang_getEnumDeclIntegerType(CXCursor cursor);
    [LibraryImport(Library)] public static partial CXType clang_getTypedefDeclUnderlyingType(CXCursor cursor);
    [LibraryImport(Library)] public static partial CXType clang_getCanonicalType(CXType type);
    [LibraryImport(Library)] public static partial CXString clang_getTypeSpelling(CXType type);
    [LibraryImport(Library)] public static partial CXString clang_getTypedefName(CXType type);
    [LibraryImport(Library)] public static partial CXType clang_getPointeeType(CXType type);
    [LibraryImport(Library)] public static partial CXType clang_Type_getNamedType(CXType type);
    [LibraryImport(Library)] public static partial CXType clang_Type_getModifiedType(CXType type);
    [LibraryImport(Library)] public static partial CXCursor clang_getTypeDeclaration(CXType type);
    [LibraryImport(Library)] public static partial CXType clang_getResultType(CXType type);
    [LibraryImport(Library)] public static partial int clang_getNumArgTypes(CXType type);
    [LibraryImport(Library)] public static partial CXType clang_getArgType(CXType type, uint index);
    [LibraryImport(Library)] public static partial uint clang_isFunctionTypeVariadic(CXType type);
    [LibraryImport(Library)] public static partial CXType clang_getArrayElementType(CXType type);
    [LibraryImport(Library)] public static partial long clang_getArraySize(CXType type);
    [LibraryImport(Library)] public static partial long clang_Type_getSizeOf(CXType type);
    [LibraryImport(Library)] public static partial long clang_Type_getAlignOf(CXType type);
    [LibraryImport(Library)] public static partial long clang_Type_getOffsetOf(CXType type, byte* fieldName);
    [LibraryImport(Library)] public static partial byte* clang_getCString(CXString text);
    [LibraryImport(Library)] public static partial void clang_disposeString(CXString text);

    /// <summary>A CXString as a managed string; disposes it.</summary>
    public static string Take(CXString text)
    {
        try
        {
            return Marshal.PtrToStringUTF8((nint)clang_getCString(text)) ?? "";
        }
        finally
        {
            clang_disposeString(text);
        }
    }
}
