using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using RdmaCs.Bindings.LibFabric;

namespace RdmaCs.Bindings.Tests;

/// <summary>
/// Every generated struct against the C compiler: a C program built in the test run prints gcc's sizeof and
/// offsetof for each struct and field the C# side declares, and they must all be equal.
/// </summary>
public class LayoutTests
{
    private static readonly string[] Headers =
        ["rdma/fabric.h", "rdma/fi_domain.h", "rdma/fi_endpoint.h", "rdma/fi_rma.h", "rdma/fi_cm.h", "rdma/fi_eq.h", "rdma/fi_errno.h", "rdma-cs-plugin.h"];

    [Fact]
    public void Every_generated_struct_has_the_size_and_field_offsets_gcc_gives()
    {
        List<(Type Type, string CName)> structs = [.. typeof(Fi).Assembly.GetTypes()
            .Where(type => type.IsValueType && type.GetCustomAttribute<CNameAttribute>() is not null
                           && type.StructLayoutAttribute?.Value == LayoutKind.Explicit)
            .Select(type => (type, type.GetCustomAttribute<CNameAttribute>()!.Name))];
        Assert.True(structs.Count > 50, $"only {structs.Count} structs found; the generator lost most of them");

        var program = new StringBuilder("#include <stdio.h>\n#include <stddef.h>\n");
        foreach (string header in Headers)
        {
            program.Append($"#include <{header}>\n");
        }
        program.Append("int main(void) {\n");
        var expected = new List<string>();
        foreach ((Type type, string cName) in structs)
        {
            program.Append($"  printf(\"size {cName} %zu\\n\", sizeof({cName}));\n");
            expected.Add($"size {cName} {SizeOf(type)}");
            foreach (FieldInfo field in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
            {
                int offset = field.GetCustomAttribute<FieldOffsetAttribute>()!.Value;
                program.Append($"  printf(\"offset {cName}.{field.Name} %zu\\n\", offsetof({cName}, {field.Name}));\n");
                expected.Add($"offset {cName}.{field.Name} {offset}");
            }
        }
        program.Append("  return 0;\n}\n");

        List<string> actual = CompileAndRun(program.ToString());
        Assert.Equal(expected, actual);
    }

    private static int SizeOf(Type type) =>
        (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;

    private static List<string> CompileAndRun(string source)
    {
        string folder = Directory.CreateTempSubdirectory("rdmacs-layout-").FullName;
        try
        {
            string sourcePath = Path.Combine(folder, "layout.c");
            string binary = Path.Combine(folder, "layout");
            File.WriteAllText(sourcePath, source);
            Run("gcc", ["-std=gnu11", "-Wall", "-Werror", "-I", Path.Combine(RepositoryPaths.Root, "include"), "-o", binary, sourcePath]);
            return [.. Run(binary, []).Split('\n', StringSplitOptions.RemoveEmptyEntries)];
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string Run(string program, string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        arguments.ToList().ForEach(start.ArgumentList.Add);
        using Process process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program} failed ({process.ExitCode}):\n{errors}");
        return output;
    }
}
