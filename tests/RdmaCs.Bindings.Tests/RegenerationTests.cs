using RdmaCs.Bindings.Generator;

namespace RdmaCs.Bindings.Tests;

public class RegenerationTests
{
    [Fact]
    public void Regenerating_the_bindings_from_the_installed_headers_changes_nothing()
    {
        SortedDictionary<string, string> generated = BindingsGenerator.Generate(GeneratorSettings.LibFabric());
        List<string> differences = BindingsGenerator.Differences(generated, Path.Combine(RepositoryPaths.Root, "bindings/RdmaCs.Bindings/Generated"));
        Assert.True(differences.Count == 0,
            "the committed bindings are not what the headers give; run scripts/generate-bindings.sh and review the diff:\n" +
            string.Join("\n", differences));
    }

    [Fact]
    public void Generating_twice_gives_the_same_bytes()
    {
        Assert.Equal(BindingsGenerator.Generate(GeneratorSettings.LibFabric()), BindingsGenerator.Generate(GeneratorSettings.LibFabric()));
    }
}
