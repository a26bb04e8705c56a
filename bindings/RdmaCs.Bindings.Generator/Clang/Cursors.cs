using System.Runtime.InteropServices;
using static RdmaCs.Bindings.Generator.Clang.LibClang;

namespace RdmaCs.Bindings.Generator.Clang;

/// <summary>Conveniences over libclang cursors and types.</summary>
internal static unsafe class Cursors
{
    public static List<CXCursor> Children(this CXCursor parent)
    {
        var children = new List<CXCursor>();
        GCHandle handle = GCHandle.Alloc(children);
        try
        {
            clang_visitChildren(parent, &Collect, (void*)GCHandle.ToIntPtr(handle));
        }
        finally
        {
            handle.Free();
        }
        return children;
    }

    [UnmanagedCallersOnly]
    private static int Collect(CXCursor cursor, CXCursor parent, void* data)
    {
        ((List<CXCursor>)GCHandle.FromIntPtr((nint)data).Target!).Add(cursor);
        return 1; // CXChildVisit_Continue
    }

    public static int Kind(this CXCursor cursor) => clang_getCursorKind(cursor);

    public static string Spelling(this CXCursor cursor) => Take(clang_getCursorSpelling(cursor));

    public static CXType Type(this CXCursor cursor) => clang_getCursorType(cursor);

    /// <summary>The file and line a declaration is written at ("" for built-ins).</summary>
    public static (string File, uint Line, uint Column) Location(this CXCursor cursor)
    {
        void* file;
        uint line, column, offset;
        clang_getFileLocation(clang_getCursorLocation(cursor), &file, &line, &column, &offset);
        return (file == null ? "" : Take(clang_getFileName(file)), line, column);
    }

    /// <summary>A key that identifies a declaration across cursors (anonymous ones included).</summary>
    public static string Key(this CXCursor cursor)
    {
        (string file, uint line, uint column) = cursor.Location();
        return $"{file}:{line}:{column}:{cursor.Kind()}";
    }

    public static string Spelling(this CXType type) => Take(clang_getTypeSpelling(type));

    public static CXType Canonical(this CXType type) => clang_getCanonicalType(type);

    /// <summary>Strips the sugar that does not change a type: elaborated (<c>struct x</c>) and attributed types.</summary>
    public static CXType Desugared(this CXType type)
    {
        while (true)
        {
            if (type.Kind == TypeKind.Elaborated)
            {
                type = clang_Type_getNamedType(type);
            }
            else if (type.Kind == TypeKind.Attributed)
            {
                type = clang_Type_getModifiedType(type);
            }
            else
            {
                return type;
            }
        }
    }
}
